"""A test-only colorize method for the batch tests, importable on Dask workers (``--plugin``).

``test-slow`` sleeps ``delay`` seconds (so a worker can be killed mid-task), logs
the start and end of every call and every "model load" as marker files in
``markers``, and colours the image by lightness. The "model" is loaded once per
process, as real methods cache theirs.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np

from tinct.registry import Param, register

_MODEL: dict = {}

#: When set, called as ``HOOK("start")`` and ``HOOK("end")`` around every call (tests watch and steer calls).
HOOK = None


def _mark(markers: str, kind: str) -> str:
    name = f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if markers:
        Path(markers, name).touch()
    return name


@register("test-slow", kind="colorize", summary="Test only: slow colour-by-lightness with call markers.",
          params=[Param("delay", "float", 0.0, "seconds to sleep per image", min=0.0, max=10.0),
                  Param("markers", "str", "", "folder for marker files"),
                  Param("threads", "int", 0, "ignored; as the CNN methods' (0 = library default)", min=0)])
def test_slow(image, *, delay=0.0, markers="", threads=0):
    """Colour by lightness after ``delay`` seconds; see the module docstring."""
    from tinct.color import lab2rgb, rgb2lightness

    if "model" not in _MODEL:
        _MODEL["model"] = _mark(markers, "load")
    call = _mark(markers, "start")
    if HOOK is not None:
        HOOK("start")
    time.sleep(delay)
    lightness = rgb2lightness(image)
    lab = np.stack([lightness, 0.5 * (lightness - 50), np.full_like(lightness, 20.0)], axis=-1)
    out = lab2rgb(lab, gamut="chroma", dtype=np.uint8)
    if markers:
        Path(markers, call.replace("start", "end", 1)).touch()
    if HOOK is not None:
        HOOK("end")
    return out
