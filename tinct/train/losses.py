"""Training targets and losses for bin-classification colorization.

* :func:`soft_encode` -- soft targets over the 5 nearest ab bins (Gaussian, sigma 5), as in ECCV16.
* :func:`rebalance_weights` -- class-rebalancing weights from the training set's own ab histogram:
  ``w ~ ((1 - lambda) * p_smooth + lambda / Q)^-1`` normalised so that ``E_p_smooth[w] = 1``.
* :func:`weighted_ce` -- per-pixel soft cross-entropy weighted by the rebalancing weight of the
  pixel's nearest bin.
* :func:`smoothness` -- the spatial term of Tunuguntla & Bhat [2]_: the difference between each pixel's predicted ab and
  the average of its 8 neighbours' predicted ab, weighted by ``exp(-(L_p - L_q)^2 / (2 sigma^2))``.
* :func:`expected_ab` and :func:`mse` -- the regression baseline (MSE on the predicted mean ab).

Every function takes and returns ``torch`` tensors in NCHW layout; ab values in CIELAB units.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016, eqs. 2-4.
.. [2] S. Tunuguntla, A. Bhat, "Image Colorization", CS 766 project, University of Wisconsin, 2017
       (rebalancing as a vividness knob; the intensity-weighted neighbourhood penalty).
"""

from __future__ import annotations

import numpy as np

from tinct.errors import ParameterError

AB_SCALE = 100.0  # ab / AB_SCALE keeps the regression terms on the scale of the cross-entropy


def centres_tensor(bins: str, device=None):
    import torch

    from tinct.color import ab_bins

    return torch.tensor(np.array(ab_bins(bins)), dtype=torch.float32, device=device)


def soft_encode(ab, centres, neighbours: int = 5, sigma: float = 5.0):
    """Soft-encode ab (N, 2, h, w) over the ``neighbours`` nearest bin centres.

    Returns ``(indices, weights)``, both (N, k, h, w): int64 bin indices, nearest first, and
    float32 Gaussian weights that sum to 1 over k. Same definition as :func:`tinct.color.encode_soft`.
    """
    import torch

    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    d2 = torch.cdist(flat, centres).pow(2)
    dist2, idx = torch.topk(d2, neighbours, dim=1, largest=False, sorted=True)
    wts = torch.exp(-(dist2 - dist2[:, :1]) / (2.0 * sigma**2))
    wts = wts / wts.sum(dim=1, keepdim=True)
    idx = idx.reshape(n, h, w, neighbours).permute(0, 3, 1, 2)
    wts = wts.reshape(n, h, w, neighbours).permute(0, 3, 1, 2)
    return idx.contiguous(), wts.contiguous()


def ab_prior(nearest_counts, centres, sigma: float = 5.0) -> np.ndarray:
    """Empirical bin distribution smoothed with a Gaussian of ``sigma`` ab units over the bin centres."""
    counts = np.asarray(nearest_counts, dtype=np.float64)
    if counts.sum() <= 0:
        raise ParameterError("data: no pixels to build the ab histogram from")
    p = counts / counts.sum()
    c = np.asarray(centres, dtype=np.float64)
    d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2.0 * sigma**2))
    k /= k.sum(axis=0, keepdims=True)  # each bin spreads its mass, total kept
    ps = k @ p
    return ps / ps.sum()


def rebalance_weights(prior, lam: float = 0.5) -> np.ndarray:
    """Class-rebalancing weights ``w = ((1 - lam) p + lam / Q)^-1``, scaled so that ``sum(p * w) = 1``.

    ``lam = 1`` gives uniform weights (no rebalancing); ``lam -> 0`` weights rare colours most
    (the vividness knob of Tunuguntla & Bhat 2017).
    """
    if not (isinstance(lam, (int, float)) and 0.0 < lam <= 1.0):
        raise ParameterError(f"rebalance: lambda must be in (0, 1], got {lam!r}")
    p = np.asarray(prior, dtype=np.float64)
    w = 1.0 / ((1.0 - lam) * p + lam / len(p))
    w /= (p * w).sum()
    return w.astype(np.float32)


def weighted_ce(logits, indices, weights, class_weights=None):
    """Mean over pixels of ``w(nearest bin) * -sum_k t_k log softmax(logits)_k`` (soft cross-entropy)."""
    import torch

    logp = torch.log_softmax(logits.float(), dim=1)
    ce = -(torch.gather(logp, 1, indices) * weights).sum(dim=1)
    if class_weights is not None:
        ce = ce * class_weights[indices[:, 0]]
    return ce.mean()


def expected_ab(logits, centres, temperature: float = 1.0):
    """Annealed mean of the predicted distribution, (N, 2, h, w) in ab units."""
    import torch

    q = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", q, centres)


def smoothness(ab_pred, lightness, sigma: float = 5.0):
    """The spatial term of Tunuguntla & Bhat (2017) on the predicted ab, in (ab / 100)^2 units.

    For each pixel p, ``avg_p = sum_q w_pq ab_q / sum_q w_pq`` over its 8 neighbours with
    ``w_pq = exp(-(L_p - L_q)^2 / (2 sigma^2))``; the term is the mean of ``|ab_p - avg_p|^2``.
    It is zero for a constant ab field, whatever L is. Borders use replicated neighbours.
    """
    import torch
    from torch.nn import functional as F

    if not sigma > 0:
        raise ParameterError(f"smooth_sigma: must be > 0, got {sigma}")
    n, c, h, w = ab_pred.shape
    ab = ab_pred.float() / AB_SCALE
    lp = F.pad(lightness.float(), (1, 1, 1, 1), mode="replicate")
    abp = F.pad(ab, (1, 1, 1, 1), mode="replicate")
    ln = F.unfold(lp, 3).view(n, 1, 9, h, w)
    abn = F.unfold(abp, 3).view(n, c, 9, h, w)
    keep = torch.ones(9, device=ab.device, dtype=ab.dtype)
    keep[4] = 0.0  # the centre is not its own neighbour
    wts = torch.exp(-((ln - lightness.float().unsqueeze(2)) ** 2) / (2.0 * sigma**2)) * keep.view(1, 1, 9, 1, 1)
    avg = (wts * abn).sum(2) / wts.sum(2).clamp_min(1e-8)
    return ((ab - avg) ** 2).sum(1).mean()


def mse(ab_pred, ab_true):
    """Mean squared ab error in (ab / 100)^2 units: the regression baseline."""
    return (((ab_pred.float() - ab_true.float()) / AB_SCALE) ** 2).sum(1).mean()
