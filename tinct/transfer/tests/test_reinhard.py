import numpy as np
import pytest
from skimage import color as skcolor

from tinct.errors import ParameterError
from tinct.transfer import reinhard


def _images(seed=0, shape=(40, 50)):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    r = (rng.random(shape + (3,)) * [0.9, 0.5, 0.2] * 255).astype(np.uint8)
    return t, r


def test_matches_reference_statistics_in_lab():
    # Mid-range colours on both sides, so the mapped colours stay inside the sRGB gamut.
    rng = np.random.default_rng(0)
    t = rng.integers(90, 170, (40, 50, 3), dtype=np.uint8)
    r = (rng.integers(80, 160, (30, 20, 3)) * [1.0, 0.8, 0.6]).astype(np.uint8)
    out = reinhard(t.astype(np.float32) / 255, r.astype(np.float32) / 255)
    lab_o, lab_r = skcolor.rgb2lab(out), skcolor.rgb2lab(r)
    # Gamut clipping moves a few pixels, so the match is close, not exact.
    assert np.allclose(lab_o.reshape(-1, 3).mean(0), lab_r.reshape(-1, 3).mean(0), atol=0.3)
    assert np.allclose(lab_o.reshape(-1, 3).std(0), lab_r.reshape(-1, 3).std(0), rtol=0.03)


def test_dtype_shape_and_inputs_untouched():
    t, r = _images()
    t0, r0 = t.copy(), r.copy()
    out = reinhard(t, r)
    assert out.dtype == np.uint8 and out.shape == t.shape
    assert np.array_equal(t, t0) and np.array_equal(r, r0)
    out16 = reinhard(t.astype(np.uint16) * 257, r)
    assert out16.dtype == np.uint16


def test_self_transfer_is_identity_and_strength_zero_too():
    t, _ = _images()
    assert np.abs(reinhard(t, t).astype(int) - t).max() <= 1
    _, r = _images(1)
    assert np.abs(reinhard(t, r, strength=0.0).astype(int) - t).max() <= 1


def test_mask_leaves_outside_bit_identical():
    t, r = _images()
    mask = np.zeros(t.shape[:2], bool)
    mask[10:30, 5:25] = True
    out = reinhard(t, r, target_mask=mask)
    assert np.array_equal(out[~mask], t[~mask])
    assert not np.array_equal(out[mask], t[mask])


def test_reference_mask_selects_statistics():
    t, _ = _images()
    ref = np.zeros((20, 20, 3), np.uint8)
    ref[:, :10] = (200, 30, 30)  # red half
    ref[:, 10:] = (30, 30, 200)  # blue half
    mask = np.zeros((20, 20), bool)
    mask[:, :10] = True
    lab = skcolor.rgb2lab(reinhard(t, ref, reference_mask=mask))
    assert lab[..., 1].mean() > 30  # reddish: a > 0


def test_keep_lightness():
    t, r = _images()
    out = reinhard(t, r, keep_lightness=True)
    diff = skcolor.rgb2lab(out)[..., 0] - skcolor.rgb2lab(t)[..., 0]
    assert np.median(np.abs(diff)) < 1.0


def test_alpha_and_gray_inputs():
    t, r = _images()
    alpha = np.random.default_rng(3).integers(0, 256, t.shape[:2], dtype=np.uint8)
    out = reinhard(np.dstack([t, alpha]), r)
    assert out.shape == t.shape[:2] + (4,) and np.array_equal(out[..., 3], alpha)
    gray = reinhard(t[..., 0], r)
    assert gray.shape == t.shape


def test_flat_target_does_not_divide_by_zero():
    flat = np.full((8, 8, 3), 128, np.uint8)
    _, r = _images()
    out = reinhard(flat, r)
    assert np.isfinite(out.astype(float)).all()


def test_bad_inputs():
    t, r = _images()
    with pytest.raises(ParameterError, match="target_mask: mask is empty"):
        reinhard(t, r, target_mask=np.zeros(t.shape[:2]))
    with pytest.raises(ParameterError, match="reference_mask: shape"):
        reinhard(t, r, reference_mask=np.ones((3, 3)))
    with pytest.raises(ParameterError, match="reference"):
        reinhard(t, np.zeros((5, 5, 2)))
    with pytest.raises(ParameterError, match="NaN"):
        reinhard(t, np.full((5, 5, 3), np.nan))


def test_sampled_statistics_match_full_statistics_on_a_large_photo(shared):
    from tinct.io import read_image
    from tinct.transfer._stats import STATS_SAMPLES, masked_pixels, mean_std

    photo = read_image(shared / "data" / "eval" / "kodak24" / sorted(
        p.name for p in (shared / "data" / "eval" / "kodak24").iterdir())[0]).pixels
    big = np.tile(photo, (3, 2, 1))  # 2.4 MP: above the sampling threshold
    lab = skcolor.rgb2lab(big).astype(np.float32)
    full, sampled = mean_std(masked_pixels(lab, None)), mean_std(masked_pixels(lab, None, STATS_SAMPLES))
    assert len(masked_pixels(lab, None, STATS_SAMPLES)) <= STATS_SAMPLES
    assert np.abs(full[0] - sampled[0]).max() < 0.05 and np.abs(full[1] - sampled[1]).max() < 0.05


def _direct_reinhard(t, r, mask=None):
    """Every pixel converted, statistics over every (masked) pixel: what the per-colour path must equal."""
    from tinct.color.lab import lab2rgb, rgb2lab

    t_lab, r_lab = rgb2lab(t), rgb2lab(r).reshape(-1, 3).astype(np.float64)
    inside = t_lab.reshape(-1, 3)[mask.reshape(-1)] if mask is not None else t_lab.reshape(-1, 3)
    inside = inside.astype(np.float64)
    scale = r_lab.std(0) / inside.std(0)
    shift = r_lab.mean(0) - inside.mean(0) * scale
    t_lab = t_lab * scale.astype(np.float32) + shift.astype(np.float32)
    out = lab2rgb(t_lab, dtype=np.uint8)
    if mask is not None:
        out[~mask] = t[~mask]
    return out


@pytest.mark.parametrize("masked", [False, True])
def test_large_8bit_images_match_the_per_pixel_float_path(masked):
    from tinct.color.lab8 import _TABLE_MIN_PIXELS
    from tinct.transfer._stats import STATS_SAMPLES

    rng = np.random.default_rng(3)
    h, w = 1024, max(_TABLE_MIN_PIXELS, STATS_SAMPLES) // 1024 + 300  # table path, sampled statistics
    # A smooth photo-like image (few distinct colours per pixel) plus noise in one corner.
    yy, xx = np.mgrid[0:h, 0:w]
    t = np.stack([yy * 255 // h, xx * 255 // w, (yy + xx) * 127 // (h + w) + 60], -1).astype(np.uint8)
    t[:64, :64] = rng.integers(0, 256, (64, 64, 3))
    r = rng.integers(40, 200, (h, w, 3), dtype=np.uint8)
    mask = (xx > w // 3) if masked else None
    t0 = t.copy()
    out = reinhard(t, r, target_mask=mask)
    assert np.array_equal(t, t0)
    expected = _direct_reinhard(t, r, mask)
    diff = np.abs(out.astype(int) - expected)
    # The same map per colour. Statistics from 2**20 of the 1.36 M pixels are a few hundredths of a Lab unit
    # off, which moves some values across a rounding boundary: never by more than one level.
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05
    if masked:
        assert np.array_equal(out[~mask], t[~mask])
