"""Colorization metrics on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.errors import ParameterError
from tinct.metrics import colorization as M


def _lab_image(L, a, b, shape=(32, 48)):
    lab = np.empty(shape + (3,), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = L, a, b
    return lab


def test_perfect_prediction_scores_100():
    rng = np.random.default_rng(0)
    ab = rng.uniform(-60, 60, (40, 50, 2)).astype(np.float32)
    assert M.auc(ab, ab) == pytest.approx(100.0)
    assert M.auc(ab, ab, rebalanced=True) == pytest.approx(100.0)
    rgb = rng.random((40, 50, 3)).astype(np.float32)
    assert M.psnr(rgb, rgb) == float("inf")
    assert M.ssim(rgb, rgb) == pytest.approx(1.0)


def test_gray_prediction_of_a_constant_colour_has_known_auc():
    """Truth ab = (30, 40) everywhere: the gray error is 50, so the curve is 0 below 50 and 1 from 50 on.

    Trapezoid area over t = 0..150: (150 - 50) + 0.5 (the step from 49 to 50) -> 100.5 / 150 = 67.0 %.
    One colour class only, so the rebalanced AuC is the same.
    """
    truth = np.broadcast_to(np.float32([30.0, 40.0]), (20, 30, 2))
    gray = np.zeros_like(truth)
    assert M.auc(gray, truth) == pytest.approx(67.0)
    assert M.auc(gray, truth, rebalanced=True) == pytest.approx(67.0)
    # errors beyond 150 never count
    far = np.broadcast_to(np.float32([200.0, 0.0]), (5, 5, 2))
    assert M.auc(np.zeros_like(far), far) == 0.0


def test_rebalancing_weights_rare_colours_up():
    """Half the pixels common (gray, the most frequent ImageNet bin class), half rare: the rare half dominates."""
    from tinct.color import encode_nearest

    truth = np.zeros((10, 20, 2), np.float32)
    truth[:, 10:] = (-80.0, 60.0)  # a saturated green: rare in ImageNet
    pred = truth.copy()
    pred[:, 10:] = 0.0  # the rare half predicted gray, error 100
    plain = M.auc(pred, truth)
    rebal = M.auc(pred, truth, rebalanced=True)
    p = M.prior()
    w_common, w_rare = 1 / p[encode_nearest(np.float32([0, 0]))], 1 / p[encode_nearest(np.float32([-80, 60]))]
    share = w_rare / (w_rare + w_common)  # weight of the pixels with error 100
    expected = 100 * (1 - share * 99.5 / 150)  # error 100: curve 0 below t = 100, 1 from 100 on
    assert rebal == pytest.approx(expected, rel=1e-6)
    assert rebal < plain


def test_prior_copy_matches_the_reference(shared):
    ref = np.load(shared / "reference" / "imagenet_prior_probs.npy")
    assert np.array_equal(M.prior(), ref)
    assert M.prior().sum() == pytest.approx(1.0)


def test_colorfulness_known_values():
    assert M.colorfulness(np.full((8, 8, 3), 0.5, np.float32)) == 0.0
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1.0  # rg = 255, yb = 127.5, no spread
    assert M.colorfulness(red) == pytest.approx(0.3 * np.hypot(255.0, 127.5))
    half = np.zeros((8, 8, 3), np.float32)
    half[:, :4, 0] = 1.0  # rg: 255 or 0 -> std 127.5, mean 127.5; yb: 127.5 or 0 -> std 63.75, mean 63.75
    assert M.colorfulness(half) == pytest.approx(np.hypot(127.5, 63.75) * 1.3)


def test_histogram_distances():
    ab = np.random.default_rng(1).uniform(-50, 50, (30, 30, 2))
    h = M.ab_histogram(ab)
    assert h.shape == (23, 23) and h.sum() == 900
    same = M.histogram_distances(h, h)
    assert same["js_divergence"] == pytest.approx(0.0, abs=1e-12) and same["intersection"] == pytest.approx(1.0)
    a = M.ab_histogram(np.full((4, 4, 2), -100.0))
    b = M.ab_histogram(np.full((4, 4, 2), 100.0))
    apart = M.histogram_distances(a, b)
    assert apart["js_divergence"] == pytest.approx(1.0) and apart["intersection"] == 0.0
    # values beyond the grid are clipped into the edge bins, not lost
    assert M.ab_histogram(np.full((2, 2, 2), 300.0))[-1, -1] == 4


def test_spurious_rate_counts_vivid_predictions_on_neutral_truth():
    """4 x 10 pixels, truth neutral (chroma 5) in the first 5 columns and vivid after; prediction varies by row."""
    truth = np.zeros((4, 10, 2), np.float32)
    truth[:, :5] = (3.0, 4.0)  # chroma 5 < 8: neutral
    truth[:, 5:] = (40.0, 0.0)  # colourful: never counts, whatever the prediction
    pred = np.zeros_like(truth)
    pred[0, :5] = (30.0, 0.0)  # chroma 30 > 25: spurious
    pred[1, :5] = (0.0, 25.0)  # exactly 25: not above the threshold
    pred[2, :2] = (-20.0, -20.0)  # chroma 28.3: spurious
    pred[:, 5:] = (0.0, 80.0)
    assert M.spurious_counts(pred, truth) == (7, 20)
    assert M.spurious_rate(pred, truth) == pytest.approx(35.0)
    assert M.spurious_rate(np.zeros_like(truth), truth) == 0.0  # gray never invents colour
    assert M.spurious_rate(pred[:, 5:], truth[:, 5:]) == 0.0  # no neutral pixel at all: 0, not NaN
    # the threshold is on chroma 8 of the truth: chroma 8.5 is not neutral
    assert M.spurious_counts(pred[:1, :5], np.full((1, 5, 2), 6.0, np.float32)) == (0, 0)


def test_set_accumulator_pools_spurious_over_pixels_not_images():
    acc = M.SetAccumulator()
    rgb = np.full((8, 8, 3), 0.5, np.float32)  # SSIM needs 7 x 7
    truth = np.zeros((8, 8, 2), np.float32)
    acc.add("a", rgb, rgb, np.full((8, 8, 2), 30.0, np.float32), truth)  # 64 of 64 neutral pixels spurious
    small_truth = np.full((8, 8, 2), 50.0, np.float32)
    small_truth[0] = 0.0  # only 8 neutral pixels, all kept gray
    acc.add("b", rgb, rgb, np.zeros_like(truth), small_truth)
    assert [r["spurious"] for r in acc.per_image] == [100.0, 0.0]
    assert acc.summary()["spurious"] == pytest.approx(100.0 * 64 / 72)


def test_shape_mismatch_is_a_parameter_error():
    with pytest.raises(ParameterError, match="shape"):
        M.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
