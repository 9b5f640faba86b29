import numpy as np
import pytest

from tinct.errors import ParameterError
from tinct.registry import get_method
from tinct.transfer import gmm, mkl
from tinct.transfer._common import gaussian_ot_map, symmetric_kl
from tinct.transfer.gmm import Mixture, fit_gmm, make_gmm_map, match_components


def _spd(rng, d=3, scale=1.0):
    m = rng.standard_normal((d, d))
    return scale * (m @ m.T + 0.1 * np.eye(d))


def _two_tone(h=40, w=60, a=(200, 40, 40), b=(40, 60, 200), noise=6, seed=0):
    """Left half colour a, right half colour b, with Gaussian noise (uint8)."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float64)
    img[:, : w // 2] = a
    img[:, w // 2 :] = b
    img += rng.normal(0, noise, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def test_gaussian_ot_map_pushes_covariance_exactly():
    rng = np.random.default_rng(1)
    for _ in range(5):
        st, sr = _spd(rng), _spd(rng)
        a = gaussian_ot_map(st, sr)
        np.testing.assert_allclose(a @ st @ a.T, sr, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(a, a.T, atol=1e-12)
        assert np.linalg.eigvalsh(a).min() > 0
        # the seed's S_r S_t^-1 is not a transport map between the two Gaussians
        bad = sr @ np.linalg.inv(st)
        assert not np.allclose(bad @ st @ bad.T, sr, rtol=1e-3)


def test_symmetric_kl_closed_form_1d_and_properties():
    rng = np.random.default_rng(2)
    mu_p, mu_q = np.array([0.3]), np.array([-0.5])
    vp, vq = 0.7, 2.0
    kl_pq = 0.5 * (vp / vq + (mu_p - mu_q) ** 2 / vq - 1 + np.log(vq / vp))
    kl_qp = 0.5 * (vq / vp + (mu_p - mu_q) ** 2 / vp - 1 + np.log(vp / vq))
    got = symmetric_kl(mu_p, np.array([[vp]]), mu_q, np.array([[vq]]))
    np.testing.assert_allclose(got, (kl_pq + kl_qp)[0])
    s = _spd(rng)
    m = rng.standard_normal(3)
    assert abs(symmetric_kl(m, s, m, s)) < 1e-9
    s2 = _spd(rng)
    np.testing.assert_allclose(symmetric_kl(m, s, m + 1, s2), symmetric_kl(m + 1, s2, m, s))


def test_fit_gmm_recovers_mixture_and_matches_sklearn_likelihood():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(3)
    means = np.array([[0.2, 0.2, 0.2], [0.8, 0.3, 0.1], [0.3, 0.6, 0.9]])
    x = np.concatenate([rng.multivariate_normal(m, 0.002 * np.eye(3), 3000) for m in means])
    mix = fit_gmm(x, 3, reg_covar=1e-6, seed=0)
    order = np.argsort(mix.means[:, 0] + 2 * mix.means[:, 2])
    np.testing.assert_allclose(mix.means[order], means[[0, 1, 2]][np.argsort(means[:, 0] + 2 * means[:, 2])], atol=0.01)
    np.testing.assert_allclose(mix.weights, 1 / 3, atol=0.01)
    np.testing.assert_allclose(mix.covariances[order][:, range(3), range(3)], 0.002, rtol=0.15)
    sk = GaussianMixture(3, covariance_type="full", reg_covar=1e-6, random_state=0).fit(x)
    assert mix.score(x) > sk.score(x) - 1e-3
    assert mix.converged


def test_match_components_recovers_permutation_and_greedy_is_not_better():
    rng = np.random.default_rng(4)
    k = 6
    means = rng.random((k, 3)) * 5
    covs = np.stack([_spd(rng, scale=0.05) for _ in range(k)])
    t = Mixture(np.full(k, 1 / k), means, covs)
    perm = rng.permutation(k)
    r = Mixture(np.full(k, 1 / k), means[perm] + 0.01, covs[perm])
    match = match_components(t, r, "optimal")
    np.testing.assert_array_equal(perm[match], np.arange(k))
    cost = symmetric_kl(t.means[:, None], t.covariances[:, None], r.means[None], r.covariances[None])
    greedy = match_components(t, r, "greedy", seed=0)
    assert sorted(greedy) == list(range(k))
    assert cost[np.arange(k), match].sum() <= cost[np.arange(k), greedy].sum() + 1e-12


def test_gmm_map_reduces_to_component_map_far_from_others():
    rng = np.random.default_rng(5)
    t = Mixture(np.array([0.5, 0.5]), np.array([[0.0, 0, 0], [10.0, 0, 0]]), np.stack([np.eye(3) * 0.5] * 2))
    r = Mixture(np.array([0.5, 0.5]), np.array([[1.0, 2, 3], [-5.0, 0, 1]]), np.stack([_spd(rng), _spd(rng)]))
    f = make_gmm_map(t, r, np.array([1, 0]), "monge")
    x = np.array([[0.1, -0.2, 0.3]], np.float32)
    a = gaussian_ot_map(t.covariances[0], r.covariances[1])
    np.testing.assert_allclose(f(x)[0], a @ x[0] + r.means[1], rtol=1e-4, atol=1e-4)
    g = make_gmm_map(t, r, np.array([1, 0]), "mean")
    np.testing.assert_allclose(g(x)[0], x[0] + r.means[1], atol=1e-5)


@pytest.mark.parametrize("mode", ["mean", "monge"])
def test_gmm_moves_each_region_to_matched_reference_colour(mode):
    target = _two_tone(a=(200, 40, 40), b=(40, 60, 200))
    reference = _two_tone(a=(30, 180, 60), b=(240, 220, 30), seed=1)
    out = gmm(target, reference, n_components=2, mode=mode)
    assert out.shape == target.shape and out.dtype == np.uint8
    left, right = out[:, :30].reshape(-1, 3).mean(0), out[:, 30:].reshape(-1, 3).mean(0)
    # red goes to the nearest (by symmetric KL) reference colour, blue to the other; both must land on one
    got = sorted([tuple(np.round(left / 10)), tuple(np.round(right / 10))])
    want = sorted([(3.0, 18.0, 6.0), (24.0, 22.0, 3.0)])
    assert got == want


def test_gmm_one_component_monge_equals_mkl():
    rng = np.random.default_rng(6)
    target = (rng.random((30, 40, 3)) ** 2 * 255).astype(np.uint8)
    reference = np.stack([rng.random((25, 35)) * 255, rng.random((25, 35)) * 120, rng.random((25, 35)) * 60], 2)
    reference = reference.astype(np.uint8)
    a = gmm(target, reference, n_components=1, mode="monge", samples=0).astype(int)
    b = mkl(target, reference, samples=0).astype(int)
    assert np.abs(a - b).max() <= 1


def test_masks_outside_bit_identical_and_inputs_untouched():
    target = _two_tone()
    reference = _two_tone(a=(10, 200, 10), b=(250, 250, 0), seed=2)
    mask = np.zeros(target.shape[:2], np.uint8)
    mask[5:30, 10:50] = 255
    t0, r0, m0 = target.copy(), reference.copy(), mask.copy()
    for method in ("gmm", "mkl", "sliced", "reinhard"):
        out = get_method(method)(target, reference, target_mask=mask)
        np.testing.assert_array_equal(out[mask == 0], target[mask == 0])
        assert (out[mask != 0] != target[mask != 0]).any()
        np.testing.assert_array_equal(target, t0)
        np.testing.assert_array_equal(reference, r0)
        np.testing.assert_array_equal(mask, m0)


def test_reference_mask_selects_the_colours_taken():
    target = _two_tone(a=(120, 120, 120), b=(90, 90, 90), noise=8)
    reference = _two_tone(a=(220, 30, 30), b=(30, 30, 220), noise=8, seed=3)
    rmask = np.zeros(reference.shape[:2], bool)
    rmask[:, 30:] = True  # only the blue half
    out = gmm(target, reference, reference_mask=rmask, n_components=2)
    mean = out.reshape(-1, 3).mean(0)
    assert mean[2] > 150 and mean[0] < 80


def test_feather_ramps_inside_mask_only():
    target = np.full((40, 40, 3), 128, np.uint8)
    target += np.random.default_rng(7).integers(0, 20, target.shape, dtype=np.uint8)
    reference = _two_tone(a=(250, 20, 20), b=(230, 60, 30), seed=4)
    mask = np.zeros((40, 40), bool)
    mask[5:35, 5:35] = True
    hard = gmm(target, reference, target_mask=mask, n_components=2).astype(int)
    soft = gmm(target, reference, target_mask=mask, n_components=2, feather=8.0).astype(int)
    np.testing.assert_array_equal(soft[~mask], target[~mask])
    t = target.astype(int)
    centre = np.abs(soft[20, 20] - hard[20, 20]).max()
    edge_soft = np.abs(soft[5, 20] - t[5, 20]).sum()
    edge_hard = np.abs(hard[5, 20] - t[5, 20]).sum()
    assert centre <= 1 and edge_soft < 0.3 * edge_hard


def test_dtypes_gray_target_and_alpha():
    reference = _two_tone(a=(250, 20, 20), b=(20, 200, 40), seed=5)
    gray = np.random.default_rng(8).integers(0, 65535, (20, 30), dtype=np.uint16)
    out = gmm(gray, reference, n_components=2)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint16
    rgba = np.dstack([_two_tone(20, 30), np.full((20, 30), 77, np.uint8)])
    out = gmm(rgba, reference, n_components=2)
    assert out.shape == (20, 30, 4) and (out[..., 3] == 77).all()
    f = _two_tone(20, 30).astype(np.float64) / 255
    out = gmm(f, reference, n_components=2, color_space="lab")
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_deterministic_and_greedy_option():
    target = _two_tone()
    reference = _two_tone(a=(10, 200, 10), b=(250, 250, 0), seed=2)
    a = gmm(target, reference, seed=3)
    np.testing.assert_array_equal(a, gmm(target, reference, seed=3))
    g = gmm(target, reference, matching="greedy", n_components=2)
    o = gmm(target, reference, matching="optimal", n_components=2)
    assert np.abs(g.astype(int) - o.astype(int)).max() <= 1  # two well-separated pairs: same matching


def test_errors_are_clear_parameter_errors():
    target = _two_tone()
    reference = _two_tone(seed=1)
    with pytest.raises(ParameterError, match="target_mask: mask is empty"):
        gmm(target, reference, target_mask=np.zeros(target.shape[:2]))
    small = np.zeros(target.shape[:2], bool)
    small[0, :5] = True
    with pytest.raises(ParameterError, match="target_mask: only 5 pixels"):
        gmm(target, reference, target_mask=small)
    flat = np.zeros_like(reference)
    flat[:, :30] = (255, 0, 0)
    flat[:, 30:] = (0, 0, 255)
    with pytest.raises(ParameterError, match="n_components: 3 is more than the 2 distinct colours"):
        gmm(target, flat)
    gray_ref = np.repeat(reference[..., :1], 3, axis=2)
    with pytest.raises(ParameterError, match="reference: is grayscale"):
        gmm(target, gray_ref)
    with pytest.raises(ParameterError, match="mode"):
        gmm(target, reference, mode="shapira")
    with pytest.raises(ParameterError, match="n_components"):
        gmm(target, reference, n_components=0)
    with pytest.raises(ParameterError, match="reference_mask: shape"):
        gmm(target, reference, reference_mask=np.ones((3, 3)))


def test_temperature_softens_the_switch_between_components():
    # Target: a smooth gray ramp that EM splits into a dark and a light component; the reference's two
    # components are far apart (dark blue, light yellow), so T = 1 switches abruptly along the ramp.
    ramp = np.linspace(40, 215, 200)
    target = np.repeat(np.repeat(ramp[None, :, None], 8, 0), 3, 2)
    target = (target + np.random.default_rng(9).normal(0, 1.0, target.shape)).clip(0, 255).astype(np.uint8)
    reference = _two_tone(a=(20, 30, 120), b=(250, 230, 60), noise=5, seed=6)
    jumps = {}
    for t in (1.0, 6.0):
        out = gmm(target, reference, n_components=2, mode="mean", temperature=t).astype(float).mean(0)
        jumps[t] = np.abs(np.diff(out, axis=0)).sum(1).max()
    assert jumps[6.0] < 0.6 * jumps[1.0]
