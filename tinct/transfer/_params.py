"""What the transfer methods declare alike: their inputs, and the parameters that mean the same in each.

Kept apart from the numerical plumbing (:mod:`tinct.transfer._common`): declaring a method needs only the
registry.
"""

from __future__ import annotations

from tinct.registry import Input, Param

# Every transfer method's inputs: the reference (the CLI's --reference), a mask on the target (--mask) and one on
# the reference (--reference-mask), so that the front ends treat all transfer methods alike.
TRANSFER_INPUTS = (
    Input("reference", "image", required=True, help="the image whose colours are taken"),
    Input("target_mask", "mask", role="mask", help="nonzero where the target may change"),
    Input("reference_mask", "mask", help="nonzero where the reference's colours are measured", size_of="reference"),
)

SPACES = ("rgb", "lab")

# Parameters that mean the same in every method that has them.
STRENGTH = Param("strength", "float", 1.0, "Blend between the target (0) and the full transfer (1).", min=0.0, max=1.0)
FEATHER = Param("feather", "float", 0.0, "Width in pixels of a soft inner edge of the target mask (0 = hard).", min=0.0)


def space_param(help: str) -> Param:
    """The ``color_space`` parameter (RGB or CIELAB, default RGB), with the method's own help."""
    return Param("color_space", "str", "rgb", help, choices=SPACES)


def samples_param(default: int, what: str) -> Param:
    """The ``samples`` parameter: how many pixels per image ``what`` (a seeded subsample; 0 = all)."""
    return Param("samples", "int", default, f"Pixels per image used {what} (seeded subsample; 0 = all).", min=0)
