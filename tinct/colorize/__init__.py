"""Colorization: black-and-white images in, colour images out, the input's own lightness kept.

Call the package to run any registered colorization method by name, or import a method function::

    import tinct
    colour = tinct.colorize(gray)                              # the default method, ``auto``
    colour = tinct.colorize(gray, reference=photo)             # exemplar colorization
    from tinct.colorize import auto, exemplar, scribble, patchdb, eccv16, siggraph17
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinct._callable import make_callable
from tinct.colorize.cnn import auto, eccv16, siggraph17, suggest_colours
from tinct.colorize.exemplar import exemplar
from tinct.colorize.patchdb import patchdb
from tinct.colorize.scribble import scribble


def __call__(image: np.ndarray, method: str | None = None, **inputs_and_params: Any) -> np.ndarray:
    """Colorize ``image`` with a registered method (default ``auto``; ``exemplar`` when a ``reference`` is given).

    Keyword arguments are the method's inputs (``reference``, ``mask``, ``scribbles``, ...) and
    parameters (see ``tinct methods NAME``); both are validated. Returns an array of the input's dtype.
    """
    from tinct.pipeline import call

    return call("colorize", image, method, inputs_and_params)


__all__ = ["auto", "eccv16", "exemplar", "patchdb", "scribble", "siggraph17", "suggest_colours"]

make_callable(__name__)
