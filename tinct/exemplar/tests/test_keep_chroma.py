"""Averaging matched colours must not wash them out to gray (issue 20, item 6)."""

from __future__ import annotations

import numpy as np

from tinct.exemplar.matching import keep_chroma


def test_spread_attention_keeps_the_matches_chroma_and_mean_hue():
    # Reference superpixels of chroma 40 at hues 0, 60 and 120 degrees; the target attends to all three.
    hues = np.deg2rad([0.0, 60.0, 120.0])
    colours = 40 * np.stack([np.cos(hues), np.sin(hues)], axis=1).astype(np.float32)
    att = np.full((2, 3), 1 / 3, np.float32)
    att[1] = [0.0, 1.0, 0.0]  # one sharp match: nothing cancels, nothing changes
    mean = att @ colours
    assert np.hypot(*mean[0]) < 30  # the plain average lost a third of the chroma
    out = keep_chroma(mean, att, colours)
    np.testing.assert_allclose(np.hypot(out[:, 0], out[:, 1]), 40, rtol=1e-5)
    np.testing.assert_allclose(np.arctan2(out[0, 1], out[0, 0]), np.deg2rad(60), atol=1e-5)
    np.testing.assert_allclose(out[1], colours[1], atol=1e-4)


def test_near_gray_average_is_left_alone():
    colours = np.array([[30.0, 0.0], [-30.0, 0.0]], np.float32)  # exact opposites cancel: no hue to keep
    att = np.array([[0.5, 0.5]], np.float32)
    np.testing.assert_allclose(keep_chroma(att @ colours, att, colours), 0, atol=1e-6)
