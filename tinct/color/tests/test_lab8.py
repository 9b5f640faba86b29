"""The compiled 8-bit CIELAB kernels against a float64 evaluation of the same formulas."""

import numpy as np
import pytest
from skimage import color as skcolor

from tinct.color import lab8


def _float64_affine(rgb, scale, shift):
    """sRGB8 -> Lab (skimage, float64) -> scale/shift -> sRGB8 (float64, per-channel clip, round half up)."""
    lab = skcolor.rgb2lab(rgb).reshape(-1, 3) * scale + shift
    fy = (lab[:, 0] + 16) / 116
    f = np.maximum(np.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1), 0)
    xyz = np.where(f > 0.2068966, f**3, (f - 16 / 116) / 7.787) * lab8.WHITE_D65
    lin = np.clip(xyz @ lab8.RGB_FROM_XYZ.T, 0, 1)
    s = np.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)
    return np.floor(s * 255 + 0.5).astype(np.uint8).reshape(rgb.shape)


def _colours(n=200_000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n // 400, 400, 3), dtype=np.uint8)


@pytest.mark.parametrize("scale, shift", [((1.1, 0.8, 1.3), (-3.0, 5.0, -7.0)),  # mild
                                          ((0.5, 2.5, 2.5), (20.0, 30.0, -40.0))])  # far out of gamut
def test_matches_float64_evaluation(scale, shift):
    rgb = _colours()
    out = lab8.lab_affine_8bit(rgb, scale, shift)
    expected = _float64_affine(rgb, np.array(scale), np.array(shift))
    diff = np.abs(out.astype(int) - expected)
    # Only values within ~1e-9 of a rounding boundary may differ.
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-5


def test_identity_returns_every_colour_unchanged():
    rgb = _colours(seed=1)
    assert np.array_equal(lab8.lab_affine_8bit(rgb, (1, 1, 1), (0, 0, 0)), rgb)


def test_table_and_per_pixel_paths_agree(monkeypatch):
    rgb = _colours(seed=2)
    per_pixel = lab8.lab_affine_8bit(rgb, (1.2, 0.7, 1.4), (2.0, -4.0, 9.0))
    monkeypatch.setattr(lab8, "_TABLE_MIN_PIXELS", 1)
    by_table = lab8.lab_affine_8bit(rgb, (1.2, 0.7, 1.4), (2.0, -4.0, 9.0))
    assert np.array_equal(per_pixel, by_table)
    assert not np.array_equal(per_pixel, rgb)


@pytest.mark.parametrize("table", [False, True])
def test_mask_leaves_outside_bit_identical_and_input_untouched(monkeypatch, table):
    if table:
        monkeypatch.setattr(lab8, "_TABLE_MIN_PIXELS", 1)
    rgb = _colours(seed=3)
    before = rgb.copy()
    mask = np.zeros(rgb.shape[:2], bool)
    mask[10:200, 50:300] = True
    out = lab8.lab_affine_8bit(rgb, (1.0, 1.5, 1.5), (5.0, 10.0, 10.0), mask)
    assert np.array_equal(rgb, before)
    assert np.array_equal(out[~mask], rgb[~mask])
    assert np.array_equal(out[mask], lab8.lab_affine_8bit(rgb, (1.0, 1.5, 1.5), (5.0, 10.0, 10.0))[mask])
    assert (out[mask] != rgb[mask]).any()


def test_statistics_equal_skimage_over_all_pixels_and_under_a_mask():
    rgb = _colours(seed=4)
    lab = skcolor.rgb2lab(rgb).reshape(-1, 3)
    mean, std = lab8.lab_mean_std_8bit(rgb)
    # Statistics use table cube roots without the Newton step: ~1e-5 here, 1e-3 at worst.
    np.testing.assert_allclose(mean, lab.mean(0), atol=1e-4)
    np.testing.assert_allclose(std, lab.std(0), atol=1e-4)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[:, ::3] = True
    mean, std = lab8.lab_mean_std_8bit(rgb, mask)
    inside = lab[mask.reshape(-1)]
    np.testing.assert_allclose(mean, inside.mean(0), atol=1e-4)
    np.testing.assert_allclose(std, inside.std(0), atol=1e-4)


def test_sampled_statistics_are_close_and_deterministic():
    h, w = 600, 800  # a smooth photo-like gradient with a noisy band
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([yy * 255 // h, xx * 255 // w, (yy * xx) % 256], -1).astype(np.uint8)
    full = lab8.lab_mean_std_8bit(rgb)
    sampled = lab8.lab_mean_std_8bit(rgb, max_samples=20_000)
    assert np.abs(full[0] - sampled[0]).max() < 0.3 and np.abs(full[1] - sampled[1]).max() < 0.3
    again = lab8.lab_mean_std_8bit(rgb, max_samples=20_000)
    assert np.array_equal(sampled[0], again[0])
    assert not np.array_equal(sampled[0], full[0])


def test_rejects_what_it_cannot_map():
    with pytest.raises(ValueError, match="uint8"):
        lab8.lab_affine_8bit(np.zeros((4, 4, 3), np.uint16), (1, 1, 1), (0, 0, 0))
    with pytest.raises(ValueError, match="no pixels"):
        lab8.lab_mean_std_8bit(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), bool))
