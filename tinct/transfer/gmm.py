"""Colour transfer by matched Gaussian mixtures (Shapira et al. 2009; Shilkrot 2010).

A K-component, full-covariance Gaussian mixture is fitted by expectation-maximisation
to the reference pixels (under the reference mask) and to the target pixels (under
the target mask). Target components are matched one-to-one to reference components,
and each masked target pixel x moves to

    x' = sum_i P(i | x) (A_i (x - mu_t,i) + mu_r,m(i))

where P(i | x) is the posterior of component i under the target mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinct.errors import ParameterError
from tinct.pixels import restore
from tinct.registry import Param, register
from tinct.transfer._common import (
    apply_pointwise,
    check_space,
    gaussian_ot_map,
    prepare_pair,
    sample_pixels,
    symmetric_kl,
    to_space,
)
from tinct.transfer._params import FEATHER, STRENGTH, TRANSFER_INPUTS, samples_param, space_param

# Covariance regularisation (added to the diagonal) in working-space units:
# about one 8-bit code value squared in RGB [0, 1], and its size in CIELAB L.
REG_COVAR = {"rgb": (1.0 / 255.0) ** 2, "lab": 0.4**2}
_LOG_2PI = math.log(2 * math.pi)


@dataclass
class Mixture:
    """Parameters of a full-covariance Gaussian mixture (float64)."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    covariances: np.ndarray  # (K, d, d)
    n_iter: int = 0
    converged: bool = False

    @property
    def precision_cholesky(self) -> np.ndarray:
        """U_k with U_k U_k^T = S_k^-1 (upper-triangular), as in scikit-learn."""
        chol = np.linalg.cholesky(self.covariances)  # lower L, S = L L^T
        eye = np.broadcast_to(np.eye(self.means.shape[1]), chol.shape)
        return np.swapaxes(np.linalg.solve(chol, eye), -1, -2)  # (L^-1)^T

    def log_resp_terms(self, x: np.ndarray) -> np.ndarray:
        """(N, K) log w_k + log N(x | mu_k, S_k)."""
        u = self.precision_cholesky
        k, d = self.means.shape
        out = np.empty((x.shape[0], k))
        for i in range(k):
            z = x @ u[i] - self.means[i] @ u[i]
            out[:, i] = -0.5 * np.einsum("nd,nd->n", z, z)
        logdet = np.log(np.diagonal(u, axis1=1, axis2=2)).sum(axis=1)
        return out + (logdet - 0.5 * d * _LOG_2PI + np.log(self.weights))

    def score(self, x: np.ndarray) -> float:
        """Mean log-likelihood per sample."""
        return float(_logsumexp(self.log_resp_terms(np.asarray(x, np.float64))).mean())


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp of an (N, K) array, K small: column loops avoid slow small-axis reductions."""
    cols = a.T
    m = cols[0].copy()
    for c in cols[1:]:
        np.maximum(m, c, out=m)
    total = np.zeros_like(m)
    for c in cols:
        total += np.exp(c - m)
    return m + np.log(total)


def fit_gmm(x, n_components: int, *, reg_covar: float, seed: int = 0, max_iter: int = 100, tol: float = 1e-3) -> Mixture:
    """Fit a full-covariance Gaussian mixture by EM (float64, vectorised).

    Initialisation: k-means++ seeding and 10 Lloyd iterations with a seeded generator,
    as scikit-learn's ``GaussianMixture(init_params='k-means++')``; then EM until the
    mean log-likelihood improves by less than ``tol``. ``reg_covar`` is added to every
    covariance diagonal so that flat regions (degenerate covariances) stay invertible.

    References
    ----------
    .. [1] A. P. Dempster, N. M. Laird, D. B. Rubin, "Maximum likelihood from incomplete
           data via the EM algorithm", J. Royal Statistical Society B 39(1), 1977.
    .. [2] D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007.
    """
    x = np.asarray(x, np.float64)
    n, d = x.shape
    k = n_components
    rng = np.random.default_rng(seed)
    # k-means++ seeding
    centres = np.empty((k, d))
    centres[0] = x[rng.integers(n)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for j in range(1, k):
        total = d2.sum()
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=d2 / total)
        centres[j] = x[pick]
        d2 = np.minimum(d2, ((x - centres[j]) ** 2).sum(1))
    sq = (x * x).sum(1)
    for _ in range(10):
        labels = (sq[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)).argmin(1)
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, weights=x[:, j], minlength=k) for j in range(d)], axis=1)
        keep = counts > 0
        centres[keep] = sums[keep] / counts[keep, None]
    resp = np.zeros((n, k))
    resp[np.arange(n), labels] = 1.0
    mix = _m_step(x, resp, reg_covar)
    prev = -np.inf
    converged = False
    for it in range(1, max_iter + 1):
        terms = mix.log_resp_terms(x)
        norm = _logsumexp(terms)
        ll = float(norm.mean())
        resp = np.exp(terms - norm[:, None])
        mix = _m_step(x, resp, reg_covar)
        mix.n_iter = it
        if abs(ll - prev) < tol:
            converged = True
            break
        prev = ll
    mix.converged = converged
    return mix


def _m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float) -> Mixture:
    nk = resp.sum(0) + 10 * np.finfo(np.float64).eps
    means = (resp.T @ x) / nk[:, None]
    k, d = means.shape
    cov = np.empty((k, d, d))
    for i in range(k):
        diff = x - means[i]
        cov[i] = (resp[:, i, None] * diff).T @ diff / nk[i]
        cov[i].flat[:: d + 1] += reg_covar
    return Mixture(nk / nk.sum(), means, cov)


def match_components(target: Mixture, reference: Mixture, method: str = "optimal", seed: int = 0) -> np.ndarray:
    """Match each target component to a distinct reference component.

    Parameters
    ----------
    method : {'optimal', 'greedy'}
        ``'optimal'`` minimises the total symmetric KL divergence over all one-to-one
        assignments (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).
        ``'greedy'`` is Shilkrot's (2010) matcher: visit the reference components in 10 random
        orders, give each the nearest free target component, keep the order with the
        lowest total symmetric KL (Shilkrot scored orders by a distance between means;
        tinct scores them by the same divergence it matches with).

    Returns
    -------
    (K,) int array ``m`` with target component ``i`` matched to reference ``m[i]``.
    """
    cost = symmetric_kl(target.means[:, None], target.covariances[:, None], reference.means[None], reference.covariances[None])
    k = cost.shape[0]
    if method == "optimal":
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cost)
        match = np.empty(k, int)
        match[rows] = cols
        return match
    if method != "greedy":
        raise ParameterError(f"matching: expected 'optimal' or 'greedy', got {method!r}")
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(10):
        match = np.full(k, -1)
        taken = np.zeros(k, bool)
        for r in rng.permutation(k):
            c = np.where(taken, np.inf, cost[:, r])
            t = int(np.argmin(c))
            match[t] = r
            taken[t] = True
        total = cost[np.arange(k), match].sum()
        if total < best_cost:
            best, best_cost = match, total
    return best


def make_gmm_map(target: Mixture, reference: Mixture, match: np.ndarray, mode: str, temperature: float = 1.0):
    """The pointwise map x -> sum_i P(i|x) (A_i (x - mu_t,i) + mu_r,m(i)) on float32 (N, d) blocks."""
    k, d = target.means.shape
    u = target.precision_cholesky
    ucat = np.concatenate(list(u), axis=1).astype(np.float32)  # (d, K*d)
    mu_u = np.einsum("kd,kde->ke", target.means, u).reshape(-1).astype(np.float32)
    const = (np.log(np.diagonal(u, axis1=1, axis2=2)).sum(1) + np.log(target.weights)).astype(np.float32)
    mu_r = reference.means[match]
    if mode == "mean":
        shift = (mu_r - target.means).astype(np.float32)  # (K, d)
        stack = None
    elif mode == "monge":
        floor = 0.0
        mats = np.stack([gaussian_ot_map(target.covariances[i], reference.covariances[match[i]], floor) for i in range(k)])
        offset = mu_r - np.einsum("kij,kj->ki", mats, target.means)  # b_i = mu_r - A_i mu_t
        stack = np.concatenate(list(mats), axis=0).astype(np.float32)  # (K*d, d): row i*d + c is A_i[c]
        shift = offset.astype(np.float32)
    else:
        raise ParameterError(f"mode: expected 'mean' or 'monge', got {mode!r}")

    def apply(x: np.ndarray) -> np.ndarray:
        # Channels-first layout: every array below is (rows, N) with contiguous rows, so the
        # per-component sums and the softmax are plain vector operations (no small-axis reductions).
        xt = np.ascontiguousarray(x.T)  # (d, N)
        z = ucat.T @ xt  # (K*d, N)
        z -= mu_u[:, None]
        z *= z
        logit = z[0::d].copy()  # (K, N) Mahalanobis distances, summed over the d rows of each component
        for j in range(1, d):
            logit += z[j::d]
        del z
        logit *= np.float32(-0.5)
        logit += const[:, None]
        if temperature != 1.0:
            logit *= np.float32(1.0 / temperature)
        top = logit[0].copy()
        for i in range(1, k):
            np.maximum(top, logit[i], out=top)
        logit -= top
        np.exp(logit, out=logit)
        total = logit[0].copy()
        for i in range(1, k):
            total += logit[i]
        logit /= total  # posteriors P(i | x), (K, N)
        if stack is None:
            out = shift.T @ logit  # (d, N)
            out += xt
        else:
            y = stack @ xt  # (K*d, N): row i*d + c is (A_i x)_c
            y += shift.reshape(-1)[:, None]
            y = y.reshape(k, d, -1)
            y *= logit[:, None, :]
            out = y[0]
            for i in range(1, k):
                out += y[i]
        return np.ascontiguousarray(out.T)

    return apply


@register(
    "gmm",
    kind="transfer",
    summary="Match Gaussian-mixture components of target and reference colours (EM; Shapira et al. 2009, "
            "Shilkrot 2010).",
    params=[
        Param("n_components", "int", 3, "Number of Gaussian components K.", min=1, max=16),
        Param("mode", "str", "monge",
              "Per-component map: 'monge' (Gaussian optimal transport) or 'mean' (shift only, as Shilkrot 2010).",
              choices=("monge", "mean")),
        space_param("Space the mixtures live in (Shilkrot 2010 uses RGB)."),
        Param("matching", "str", "optimal",
              "Component matching: optimal assignment or the greedy search of Shilkrot 2010.",
              choices=("optimal", "greedy")),
        Param("temperature", "float", 1.0, "Posterior temperature: > 1 softens the switch between components.",
              min=1.0, max=100.0),
        samples_param(20000, "to fit EM"),
        Param("seed", "int", 0, "Seed of the subsample, the k-means++ start and the greedy orders.", min=0),
        FEATHER,
        STRENGTH,
    ],
    inputs=TRANSFER_INPUTS,
)
def gmm(target, reference, *, target_mask=None, reference_mask=None, n_components=3, mode="monge",
        color_space="rgb", matching="optimal", temperature=1.0, samples=20000, seed=0, feather=0.0, strength=1.0):
    """Recolour ``target`` with the colours of ``reference`` by matched Gaussian mixtures.

    Parameters
    ----------
    target : (H, W[, 1|3|4]) ndarray
        Image to recolour: uint8, uint16 or float in [0, 1]; gray is allowed, alpha is kept.
    reference : (h, w[, 3|4]) ndarray
        Colour image whose colours are taken (a gray reference is refused).
    target_mask, reference_mask : (H, W) / (h, w) array_like, optional
        Nonzero = inside. The reference mixture is fitted to the pixels inside
        ``reference_mask``; only target pixels inside ``target_mask`` are changed, and
        pixels outside it are returned bit-identical.
    n_components : int, default 3
        K, the number of components of each mixture. Each masked image must hold at
        least K distinct colours and 10 K pixels.
    mode : {'monge', 'mean'}, default 'monge'
        ``'mean'`` uses A_i = I (Shilkrot's [2]_ choice: each component is shifted).
        ``'monge'`` uses the Gaussian optimal-transport map
        A_i = S_t^{-1/2} (S_t^{1/2} S_r S_t^{1/2})^{1/2} S_t^{-1/2}, which carries
        N(mu_t,i, S_t,i) exactly onto N(mu_r,m(i), S_r,m(i)). Shilkrot's source,
        Shapira et al. [1]_, use S_r S_t^{-1}, which is not such a map: it takes
        covariance S_t to S_r S_t^{-1} S_r (variance ratio instead of deviation ratio
        in one dimension) and is not symmetric; see
        :func:`tinct.transfer._common.gaussian_ot_map`.
    color_space : {'rgb', 'lab'}, default 'rgb'
        ``'rgb'`` is Shilkrot's space (sRGB in [0, 1]); ``'lab'`` is CIELAB. In CIELAB the
        components split mostly by lightness and the posteriors switch faster between
        components, which posterises dark regions on some pairs (see the benchmark).
    matching : {'optimal', 'greedy'}, default 'optimal'
        See :func:`match_components`.
    temperature : float, default 1
        Posteriors are computed as ``P(i|x) ~ (w_i N(x | mu_i, S_i))^(1/T)``. T = 1 is the exact
        mixture posterior (as in [1]_ and [2]_); larger T blends neighbouring components' maps over a wider
        range of colours, which removes the contouring and speckle that appear where two
        components with very different maps meet (at the cost of a looser fit of the reference).
    samples : int, default 20000
        Size of the seeded subsample of each image that EM is fitted to (0 = all
        pixels). Posteriors are always evaluated for every masked target pixel.
    seed : int, default 0
        Makes the subsample, the EM start and the greedy matcher deterministic.
    feather : float, default 0
        Blend weight ramps from 0 at the target-mask edge to 1 at ``feather`` pixels
        inside (pixels outside the mask are never changed).
    strength : float, default 1
        Blend between the target (0) and the full transfer (1).

    Returns
    -------
    ndarray
        Same shape and dtype as ``target`` (float input gives float32); alpha re-attached.

    Notes
    -----
    EM is tinct's own vectorised float64 implementation (:func:`fit_gmm`) on the
    subsample; the posteriors of all pixels are evaluated block by block in float32
    from the precision Cholesky factors with two small matrix products per block.

    References
    ----------
    .. [1] L. Shapira, A. Shamir, D. Cohen-Or, "Image appearance exploration by model-based
           navigation", Computer Graphics Forum 28(2) (Eurographics), 2009.
    .. [2] R. Shilkrot, "Image recoloring using Gaussian mixture model and expectation
           maximization", morethantechnical.com, 2010.
    .. [3] J.-H. Huang et al., "Image recolorization for the colorblind", ICASSP 2009
           (symmetric KL matching).
    .. [4] F. Pitié, A. Kokaram, "The linear Monge-Kantorovitch linear colour mapping for
           example-based colour transfer", IET CVMP, 2007.
    """
    space = check_space(color_space)
    k = n_components
    pair = prepare_pair(target, reference, target_mask, reference_mask, method="gmm", min_pixels=10 * k)
    reg = REG_COVAR[space]
    mixtures = []
    for name, rgb, mask in (("target", pair.t_rgb, pair.t_mask), ("reference", pair.r_rgb, pair.r_mask)):
        sample = sample_pixels(rgb, mask, samples, seed)
        distinct = len(np.unique(sample, axis=0))
        if distinct < k:
            where = f"under {name}_mask" if mask is not None else f"in the {name}"
            raise ParameterError(f"n_components: {k} is more than the {distinct} distinct colours {where}")
        mixtures.append(fit_gmm(to_space(sample, space), k, reg_covar=reg, seed=seed))
    mix_t, mix_r = mixtures
    match = match_components(mix_t, mix_r, matching, seed)
    func = make_gmm_map(mix_t, mix_r, match, mode, temperature)
    out = apply_pointwise(pair, func, space, strength=strength, feather=feather)
    return restore(out, pair.target)
