import numpy as np
import pytest

from tinct.errors import ParameterError
from tinct.metrics import delta_e, edge_preservation, sliced_wasserstein, ssim_lightness, transfer_scores


def _photo(h=48, w=64, seed=0):
    """A smooth colourful test image with edges (uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx + 1), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], 2)
    img[h // 3 : 2 * h // 3, w // 4 : w // 2] = (0.9, 0.8, 0.1)
    img += rng.normal(0, 0.01, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def test_sliced_wasserstein_zero_for_same_distribution_and_monotone_in_shift():
    a = _photo()
    a0 = a.copy()
    shuffled = np.random.default_rng(1).permutation(a.reshape(-1, 3)).reshape(a.shape)
    assert sliced_wasserstein(a, a) == 0.0
    assert sliced_wasserstein(shuffled, a) < 1e-9
    d10 = sliced_wasserstein(np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8), a)
    d30 = sliced_wasserstein(np.clip(a.astype(int) + 30, 0, 255).astype(np.uint8), a)
    assert 0 < d10 < d30
    np.testing.assert_array_equal(a, a0)
    b = _photo(seed=3)[::2]
    np.testing.assert_allclose(sliced_wasserstein(a, b), sliced_wasserstein(b, a), rtol=0.05)


def test_sliced_wasserstein_translation_value():
    # For a translation t of every pixel, SW2 = sqrt(E[<t, theta>^2]) ~ |t| / sqrt(3).
    lo, hi = np.full((10, 10, 3), 0.4, np.float32), np.full((10, 10, 3), 0.6, np.float32)
    from tinct.color import rgb2lab

    dist = np.linalg.norm(rgb2lab(hi[0, 0]) - rgb2lab(lo[0, 0]))
    got = sliced_wasserstein(lo, hi, n_projections=2000)
    np.testing.assert_allclose(got, dist / np.sqrt(3), rtol=0.05)


def test_mask_restricts_the_distribution():
    a = np.zeros((20, 20, 3), np.uint8)
    a[:, :10] = (200, 30, 30)
    a[:, 10:] = (30, 30, 200)
    red = np.full((5, 5, 3), (200, 30, 30), np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[:, :10] = True
    assert sliced_wasserstein(a, red, result_mask=mask) < 1e-9
    assert sliced_wasserstein(a, red) > 10
    with pytest.raises(ParameterError, match="result_mask"):
        sliced_wasserstein(a, red, result_mask=np.zeros((20, 20)))


def test_ssim_lightness_and_edges():
    a = _photo()
    assert ssim_lightness(a, a) == pytest.approx(1.0)
    assert edge_preservation(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + np.random.default_rng(2).integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    poster = (a // 64) * 64 + 32
    assert ssim_lightness(noisy, a) < 0.9
    assert edge_preservation(noisy, a) < edge_preservation(a, a) - 0.1
    assert edge_preservation(poster, a) < 0.95
    # a global lightness-contrast change keeps edges (scale-invariant), SSIM notices it less than noise
    gray = a.mean(2)
    stretched = np.clip((gray - gray.mean()) * 1.3 + gray.mean(), 0, 255).astype(np.uint8)
    assert edge_preservation(stretched, gray.astype(np.uint8)) > 0.97
    with pytest.raises(ParameterError, match="shape"):
        ssim_lightness(a, a[:-1])


def test_delta_e():
    a = np.full((4, 4, 3), (120, 60, 200), np.uint8)
    b = np.full((4, 4, 3), (125, 64, 190), np.uint8)
    from skimage.color import deltaE_ciede2000, rgb2lab

    la, lb = rgb2lab(a / 255.0), rgb2lab(b / 255.0)
    assert delta_e(a, a) == 0.0
    np.testing.assert_allclose(delta_e(a, b, kind="76"), np.linalg.norm(la[0, 0] - lb[0, 0]), rtol=1e-4)
    np.testing.assert_allclose(delta_e(a, b), deltaE_ciede2000(la, lb).mean(), rtol=1e-3)
    with pytest.raises(ParameterError, match="kind"):
        delta_e(a, b, kind="94")


def test_transfer_scores_keys():
    a = _photo()
    s = transfer_scores(a, a, _photo(seed=5))
    assert set(s) == {"swd", "ssim_l", "edge"} and s["ssim_l"] == pytest.approx(1.0)
