"""Colour transfer: the target image takes the colours of a reference image.

Call the package to run any registered transfer method by name, or import a method function::

    import tinct
    out = tinct.transfer(target, reference)                    # the default method, ``reinhard``
    out = tinct.transfer(target, reference, method="mkl", mask=face)
    from tinct.transfer import reinhard, mkl, gmm, sliced, superpixel
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinct._callable import make_callable
from tinct.transfer.gmm import gmm
from tinct.transfer.mkl import mkl
from tinct.transfer.reinhard import reinhard
from tinct.transfer.sliced import sliced
from tinct.transfer.superpixel import superpixel


def __call__(target: np.ndarray, reference: np.ndarray, method: str | None = None,
             **inputs_and_params: Any) -> np.ndarray:
    """Recolour ``target`` with the colours of ``reference`` using a registered method (default ``reinhard``).

    Keyword arguments are the method's inputs (``mask`` or ``target_mask``, ``reference_mask``) and
    parameters (see ``tinct methods NAME``); both are validated. Returns an array of the target's dtype.
    """
    from tinct.pipeline import call

    return call("transfer", target, method, {"reference": reference, **inputs_and_params})


__all__ = ["gmm", "mkl", "reinhard", "sliced", "superpixel"]

make_callable(__name__)
