import numpy as np
import pytest

from tinct.errors import ParameterError
from tinct.transfer import mkl, sliced
from tinct.transfer.sliced import apply_sliced, fit_sliced, rgb_grid, trilinear


def _gauss_image(rng, mean, cov, shape=(60, 80)):
    x = rng.multivariate_normal(mean, cov, shape[0] * shape[1]).reshape(*shape, 3)
    return x


def test_mkl_result_has_reference_mean_and_covariance():
    rng = np.random.default_rng(0)
    t = _gauss_image(rng, [0.5, 0.45, 0.4], [[0.004, 0.002, 0.001], [0.002, 0.003, 0.0], [0.001, 0.0, 0.002]])
    r = _gauss_image(rng, [0.55, 0.5, 0.35], [[0.002, -0.001, 0.0], [-0.001, 0.004, 0.001], [0.0, 0.001, 0.003]])
    t, r = np.clip(t, 0, 1), np.clip(r, 0, 1)
    out = mkl(t, r, samples=0).reshape(-1, 3).astype(np.float64)
    rr = r.reshape(-1, 3)
    np.testing.assert_allclose(out.mean(0), rr.mean(0), atol=2e-3)
    np.testing.assert_allclose(np.cov(out.T, bias=True), np.cov(rr.T, bias=True), atol=1e-4)


def test_mkl_matches_color_matcher_and_fast_path_matches_blocked_path():
    from color_matcher import ColorMatcher

    rng = np.random.default_rng(1)
    t = (rng.random((40, 50, 3)) ** 1.5 * 255).astype(np.uint8)
    r = np.stack([rng.random((30, 30)) * 200 + 40, rng.random((30, 30)) * 90, rng.random((30, 30)) * 140], 2)
    r = r.astype(np.uint8)
    fast = mkl(t, r, samples=0)
    blocked = mkl(t, r, samples=0, target_mask=np.ones(t.shape[:2]))
    assert np.abs(fast.astype(int) - blocked.astype(int)).max() <= 1
    peer = ColorMatcher().transfer(src=t.astype(np.float64) / 255, ref=r.astype(np.float64) / 255, method="mkl")
    peer = np.clip(peer * 255 + 0.5, 0, 255).astype(int)
    assert np.abs(fast.astype(int) - peer).mean() < 1.0


def test_mkl_strength_zero_is_identity_and_lab_runs():
    rng = np.random.default_rng(2)
    t = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    r = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    r[..., 2] //= 3
    np.testing.assert_array_equal(mkl(t, r, strength=0.0), t)
    lab = mkl(t, r, color_space="lab")
    assert lab.shape == t.shape and not np.array_equal(lab, t)


def test_trilinear_is_exact_for_affine_tables():
    size = 9
    grid = rgb_grid(size)
    m = np.array([[0.5, 0.2, 0.1], [0.0, 0.9, -0.1], [0.3, 0.0, 0.6]], np.float32)
    lut = (grid @ m.T + 0.05).reshape(size, size, size, 3)
    x = np.random.default_rng(3).random((1000, 3)).astype(np.float32)
    x[0] = (1, 1, 1)
    x[1] = (0, 0, 0)
    np.testing.assert_allclose(trilinear(lut, x), x @ m.T + 0.05, atol=1e-5)


def test_sliced_transport_matches_reference_distribution():
    rng = np.random.default_rng(4)
    xt = rng.normal(0, 1, (4000, 3)) * [1, 2, 0.5]
    xr = np.concatenate([rng.normal(-2, 0.3, (2000, 3)), rng.normal(2, 0.5, (2000, 3))])
    steps = fit_sliced(xt, xr, 30, seed=0)
    moved = apply_sliced(steps, xt)
    for j in range(3):
        q = np.r_[np.linspace(0.05, 0.45, 9), np.linspace(0.55, 0.95, 9)]  # the median falls in the gap
        np.testing.assert_allclose(np.quantile(moved[:, j], q), np.quantile(xr[:, j], q), atol=0.25)
    # a bimodal reference: the transported points must be bimodal too
    assert (np.abs(moved[:, 0]) < 0.7).mean() < 0.1


def test_sliced_image_and_errors():
    rng = np.random.default_rng(5)
    t = rng.integers(60, 200, (30, 40, 3), dtype=np.uint8)
    r = np.zeros((30, 40, 3), np.uint8)
    r[:, :20] = (230, 40, 30)
    r[:, 20:] = (30, 40, 230)
    r = np.clip(r.astype(int) + rng.integers(-10, 10, r.shape), 0, 255).astype(np.uint8)
    out = sliced(t, r, iterations=10, regrain=0)  # iid noise target: regrain would (rightly) blend it
    # the result's colours are reds and blues, not the target's grays
    o = out.reshape(-1, 3).astype(int)
    assert (np.abs(o[:, 0] - o[:, 2]) > 100).mean() > 0.8
    np.testing.assert_array_equal(sliced(t, r, iterations=10, regrain=0), out)
    with pytest.raises(ParameterError, match="iterations"):
        sliced(t, r, iterations=0)
    with pytest.raises(ParameterError, match="reference: is grayscale"):
        mkl(t, np.repeat(r[..., :1], 3, 2))
    with pytest.raises(ParameterError, match="color_space"):
        mkl(t, r, color_space="hsv")


def test_guided_filter_keeps_guide_edges_and_removes_noise():
    from tinct.transfer._common import guided_filter

    rng = np.random.default_rng(6)
    guide = np.zeros((40, 40), np.float32)
    guide[:, 20:] = 1.0
    src = guide * 0.5 + rng.normal(0, 0.05, guide.shape).astype(np.float32)
    out = guided_filter(guide, src, radius=4, eps=1e-3)
    assert out[:, 24:].std() < 0.3 * src[:, 24:].std()  # noise in flat parts is smoothed away
    assert out[:, 22:].mean() - out[:, :18].mean() > 0.45  # the step survives
    np.testing.assert_allclose(guided_filter(guide, np.full((40, 40), 0.3, np.float32), 4, 1e-3), 0.3, atol=1e-5)


def test_sliced_regrain_reduces_amplified_grain():
    import cv2

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:48, 0:64] / 64.0
    smooth = np.stack([0.3 + 0.4 * xx, 0.3 + 0.3 * yy, 0.5 + 0.0 * xx], 2)
    t = ((smooth + rng.normal(0, 0.01, smooth.shape)).clip(0, 1) * 255).astype(np.uint8)
    r = (rng.random((40, 40, 3)) * [255, 120, 60]).astype(np.uint8)
    raw = sliced(t, r, regrain=0, iterations=10)
    kept = sliced(t, r, regrain=4, iterations=10)

    def grain(img):  # fine texture: what is left after a Gaussian blur
        f = img.astype(np.float32)
        return float((f - cv2.GaussianBlur(f, (0, 0), 3)).std())

    # The steep map multiplies the target's noise (about 3x here); regraining puts the target's own back.
    assert grain(raw) > 2 * grain(t)
    assert grain(kept) < 1.3 * grain(t)


def test_regrain_in_strips_equals_whole_image(monkeypatch):
    import tinct.transfer._common as common

    rng = np.random.default_rng(8)
    t = rng.integers(0, 256, (50, 20, 3), dtype=np.uint8)
    res = rng.integers(0, 256, (50, 20, 3), dtype=np.uint8)
    pair = common.prepare_pair(t, res, None, None, method="test")
    whole = common.regrain(pair, res, 3)
    monkeypatch.setattr(common, "BLOCK", 20 * 7)  # 7-row strips
    np.testing.assert_array_equal(common.regrain(pair, res, 3), whole)
