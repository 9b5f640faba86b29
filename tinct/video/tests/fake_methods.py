"""Cheap colorize methods for the video and batch tests (registered on import; need no weights).

``test-tint`` colours by lightness (warm highlights, cool shadows) and, with
``jitter > 0``, adds a per-frame random colour cast that changes from frame to
frame: the flicker a per-frame colorizer shows, for the consistency tests.
Every call is counted in :data:`CALLS`; with ``TINCT_TEST_FAIL_AFTER=N`` set in
the environment the (N+1)-th call raises, to simulate an interrupted run.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from tinct.registry import Param, register

CALLS = [0]


@register("test-tint", kind="colorize", summary="Test only: colour from lightness, optional per-frame jitter.",
          params=[Param("jitter", "float", 0.0, "per-frame random ab cast (ab units)", min=0.0, max=60.0)])
def test_tint(image, *, jitter=0.0):
    """Colour by lightness: ab = (0.6 (L - 50), 0.4 (L - 50)) (+ a per-frame cast of size ``jitter``)."""
    from tinct.color import lab2rgb, rgb2lightness

    limit = os.environ.get("TINCT_TEST_FAIL_AFTER")
    if limit is not None and CALLS[0] >= int(limit):
        raise RuntimeError("simulated crash")
    CALLS[0] += 1
    lightness = rgb2lightness(image)
    lab = np.stack([lightness, 0.6 * (lightness - 50), 0.4 * (lightness - 50)], axis=-1)
    if jitter:
        seed = int.from_bytes(hashlib.sha1(np.ascontiguousarray(image).tobytes()).digest()[:4], "little")
        lab[..., 1:] += np.random.default_rng(seed).uniform(-jitter, jitter, 2).astype(np.float32)
    return lab2rgb(lab, gamut="chroma", dtype=np.uint8)
