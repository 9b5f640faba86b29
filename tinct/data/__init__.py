"""Small files shipped with tinct: example images (see README, "Example images")."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent / "examples"

# Gray historical photographs (public domain) to colorize.
GRAY_EXAMPLES = ("detroit_1915.jpg", "keller_chaplin_1919.jpg", "old_tom_morris.png")
# A colour-transfer pair (CC0 clothing photos): target, reference.
TRANSFER_PAIR = ("clothing_jacket.jpg", "clothing_shirt.jpg")


def example(name: str) -> Path:
    """Path of a bundled example image."""
    path = EXAMPLES / name
    if not path.is_file():
        raise FileNotFoundError(f"no bundled example named {name!r}")
    return path
