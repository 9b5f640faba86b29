import numpy as np
import pytest
import torch

from tinct.color import ab_bins, encode_soft
from tinct.errors import ParameterError
from tinct.train.losses import (
    ab_prior,
    centres_tensor,
    expected_ab,
    mse,
    rebalance_weights,
    smoothness,
    soft_encode,
    weighted_ce,
)


def test_soft_encode_matches_numpy_reference():
    rng = np.random.default_rng(0)
    ab = rng.uniform(-90, 90, size=(2, 2, 5, 6)).astype(np.float32)
    idx, wts = soft_encode(torch.from_numpy(ab), centres_tensor("313"))
    ref_idx, ref_w = encode_soft(np.moveaxis(ab, 1, -1), bins="313")
    assert idx.shape == (2, 5, 5, 6)
    np.testing.assert_array_equal(np.moveaxis(idx.numpy(), 1, -1), ref_idx)
    np.testing.assert_allclose(np.moveaxis(wts.numpy(), 1, -1), ref_w, atol=1e-5)
    np.testing.assert_allclose(wts.sum(1).numpy(), 1.0, atol=1e-6)


def test_soft_encode_of_a_bin_centre_peaks_there():
    c = centres_tensor("484")
    ab = c[37].view(1, 2, 1, 1)
    idx, wts = soft_encode(ab, c)
    assert int(idx[0, 0, 0, 0]) == 37
    assert float(wts[0, 0, 0, 0]) > 0.5 and float(wts[0, 0, 0, 0]) == float(wts.max())


def test_prior_is_a_smoothed_distribution():
    centres = ab_bins("313")
    counts = np.zeros(len(centres))
    counts[100] = 50
    p = ab_prior(counts, centres, sigma=5.0)
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == 100 and p[100] < 1.0  # mass spread to neighbours
    neighbour = np.argsort(((centres - centres[100]) ** 2).sum(1))[1]
    assert p[neighbour] > 0.01
    with pytest.raises(ParameterError):
        ab_prior(np.zeros(len(centres)), centres)


@pytest.mark.parametrize("lam", [0.1, 0.5, 0.9])
def test_rebalancing_weights_have_unit_expectation(lam):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.full(313, 0.3))
    w = rebalance_weights(p, lam)
    assert float((p * w).sum()) == pytest.approx(1.0, rel=1e-5)
    # rarer colours weigh more
    assert w[p.argmin()] > w[p.argmax()]


def test_rebalancing_lambda_one_is_uniform_and_bad_lambda_raises():
    p = np.random.default_rng(2).dirichlet(np.ones(313))
    np.testing.assert_allclose(rebalance_weights(p, 1.0), 1.0, rtol=1e-5)
    with pytest.raises(ParameterError, match="lambda"):
        rebalance_weights(p, 0.0)


def test_weighted_ce_matches_hand_computation():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 1, 2)
    idx = torch.tensor([[[[0, 3]], [[1, 2]]]])  # (1, k=2, 1, 2)
    wts = torch.tensor([[[[0.75, 0.5]], [[0.25, 0.5]]]])
    logp = torch.log_softmax(logits, 1)[0, :, 0]  # (4, 2)
    ce0 = -(0.75 * logp[0, 0] + 0.25 * logp[1, 0])
    ce1 = -(0.5 * logp[3, 1] + 0.5 * logp[2, 1])
    assert float(weighted_ce(logits, idx, wts)) == pytest.approx(float(ce0 + ce1) / 2, rel=1e-6)
    cw = torch.tensor([2.0, 1.0, 1.0, 4.0])
    expected = (2.0 * ce0 + 4.0 * ce1) / 2
    assert float(weighted_ce(logits, idx, wts, cw)) == pytest.approx(float(expected), rel=1e-6)


def test_smoothness_is_zero_for_constant_ab_whatever_l():
    ab = torch.empty(2, 2, 7, 9)
    ab[:, 0], ab[:, 1] = 23.0, -41.0
    lightness = torch.rand(2, 1, 7, 9) * 100
    assert float(smoothness(ab, lightness)) == pytest.approx(0.0, abs=1e-10)


def test_smoothness_penalises_noise_and_respects_l_edges():
    lightness = torch.full((1, 1, 8, 8), 50.0)
    noisy = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(0)) * 20
    assert float(smoothness(noisy, lightness)) > 0.01
    step = torch.zeros(1, 2, 8, 8)
    step[..., 4:] = 40.0  # a colour edge
    flat_l = float(smoothness(step, lightness))
    edge_l = lightness.clone()
    edge_l[..., 4:] = 90.0  # ... that coincides with a lightness edge costs (almost) nothing
    assert float(smoothness(step, edge_l)) < 1e-3 * flat_l
    with pytest.raises(ParameterError, match="smooth_sigma"):
        smoothness(step, lightness, sigma=0)


def test_expected_ab_and_mse():
    c = centres_tensor("313")
    logits = torch.full((1, 313, 2, 2), -1e4)
    logits[:, 5] = 0.0
    ab = expected_ab(logits, c)
    np.testing.assert_allclose(ab[0, :, 0, 0].numpy(), c[5].numpy(), atol=1e-4)
    assert float(mse(ab, ab)) == 0.0
    assert float(mse(ab, ab + 10.0)) == pytest.approx(2 * (10 / 100) ** 2, rel=1e-5)
