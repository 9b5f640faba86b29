"""Temporal metrics: CDC (JS divergence of RGB histograms) and the warp error of Lai et al."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.errors import ParameterError
from tinct.metrics.temporal import cdc, js_divergence, non_occluded, video_scores, warp_error


def _pan(n=10, h=64, w=80, seed=0):
    """Colour frames of a smooth texture panning 2 px per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.uniform(0, 255, (12, 30, 3)).astype(np.float32), (w + 2 * n + 2, h),
                     interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(big[:, 2 * i: 2 * i + w]) for i in range(n)]


def _flicker(frames, amount=25, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        shift = rng.uniform(-amount, amount, 3)
        out.append(np.clip(f.astype(np.float32) + shift, 0, 255).astype(np.uint8))
    return out


def test_js_divergence_bounds():
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert js_divergence(p, q) == pytest.approx(np.log(2))
    assert js_divergence(p, p) == 0.0
    r = np.array([0.3, 0.7])
    assert js_divergence(p, r) == pytest.approx(js_divergence(r, p))


def test_still_video_scores_zero():
    f = _pan(1)[0]
    frames = [f] * 6
    assert cdc(frames) == 0.0
    assert warp_error(frames) == pytest.approx(0.0, abs=1e-9)


def test_flicker_raises_both_measures():
    steady = _pan()
    noisy = _flicker(steady)
    c_steady, parts = cdc(steady, per_dilation=True)
    assert set(parts) == {1, 2, 4}
    assert cdc(noisy) > 3 * c_steady
    w_steady = warp_error(steady)
    # the flow is measured on the steady clip (the "input"), as for every result of one clip
    w_noisy = warp_error(noisy, guide=steady)
    assert w_steady < 2e-3
    assert w_noisy > 10 * w_steady


def test_cuts_are_not_counted():
    a, b = _pan(4, seed=0), _pan(4, seed=5)
    frames = a + b
    _, errs = warp_error(frames, per_frame=True)
    _, errs_cut = warp_error(frames, cuts=[4], per_frame=True)
    assert len(errs) == 7 and len(errs_cut) == 6
    assert max(errs) > 10 * max(errs_cut)


def test_occlusion_check():
    h, w = 20, 30
    f_back = np.zeros((h, w, 2), np.float32)
    f_fwd = np.zeros((h, w, 2), np.float32)
    assert non_occluded(f_back, f_fwd).all()
    f_back[:, :, 0] = 3.0  # t -> t-1 says +3 px
    f_fwd[:, :, 0] = -3.0  # t-1 -> t says -3 px: consistent
    ok = non_occluded(f_back, f_fwd)
    assert ok[:, : w - 3].all() and not ok[:, w - 2:].any()  # flow leaving the frame is excluded
    f_fwd[:, :, 0] = 3.0  # inconsistent: occluded
    assert not non_occluded(f_back, f_fwd).any()


def test_bad_input_is_one_line():
    frames = _pan(3)
    with pytest.raises(ParameterError, match="frame size changes"):
        cdc(frames + [frames[0][:32]])
    with pytest.raises(ParameterError, match="frame size changes"):
        warp_error(frames + [frames[0][:32]])
    with pytest.raises(ParameterError, match="at least 2 frames"):
        cdc(frames[:1])
    with pytest.raises(ParameterError, match="guide: has fewer frames"):
        warp_error(frames, guide=frames[:2])
    with pytest.raises(ParameterError, match="no frames"):
        warp_error([])


def test_video_file_scores(tmp_path):
    from tinct.video.tests.clips import frames, write_clip

    path = tmp_path / "c.mp4"
    clip = frames(12)
    write_clip(path, clip)
    s = video_scores(path)
    assert s["frames"] == 12 and s["cdc"] >= 0 and s["warp_error"] < 5e-3
    assert set(s) >= {"cdc", "cdc_d1", "cdc_d2", "cdc_d4", "warp_error"} and s["cuts"] == [0]
