"""The compiled frame composition gives what lab2rgb(gamut='chroma') gives, gamut fitting included."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color import lab2rgb, rgb2lab
from tinct.video.compose import compose_u8


def test_compose_matches_lab2rgb_chroma_in_and_out_of_gamut():
    rng = np.random.default_rng(3)
    lightness = rng.uniform(-5, 105, (64, 96)).astype(np.float32)  # L outside [0, 100] too
    ab = rng.normal(0, 45, (64, 96, 2)).astype(np.float32)  # many colours outside sRGB
    lab = np.concatenate([lightness[..., None], ab], axis=-1)
    want = lab2rgb(lab, gamut="chroma", dtype=np.uint8).astype(int)
    got = compose_u8(lightness, ab).astype(int)
    assert got.shape == (64, 96, 3)
    assert np.abs(got - want).max() <= 1
    assert np.mean(got != want) < 1e-3  # float64 against float32 rounding only, not another gamut map
    clipped = lab2rgb(lab, gamut="clip", dtype=np.uint8).astype(int)
    assert np.abs(got - clipped).max() > 20  # per-channel clipping would be a different picture


def test_compose_round_trips_srgb_colours():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    lab = rgb2lab(rgb)
    assert np.abs(compose_u8(lab[..., 0], lab[..., 1:]).astype(int) - rgb).max() <= 1


def test_compose_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="ab"):
        compose_u8(np.zeros((4, 5), np.float32), np.zeros((4, 6, 2), np.float32))
