"""Colour-transfer quality: how close the colours came to the reference, and how much structure survived.

- :func:`sliced_wasserstein` -- distance between the CIELAB pixel distributions of the result and the
  reference (lower = colours closer to the reference);
- :func:`ssim_lightness` -- SSIM of the result's L against the target's L (structure kept, 1 = same);
- :func:`edge_preservation` -- correlation of the gradient magnitudes of result and target L
  (1 = the same edges, up to a global contrast change; artefacts such as posterisation or lost
  edges lower it);
- :func:`delta_e` -- mean colour difference against a known ground truth (CIE76 or CIEDE2000).

All functions accept uint8, uint16 or float [0, 1] images, gray or RGB (alpha is ignored), and
never modify their inputs.
"""

from __future__ import annotations

import numpy as np

from tinct.color.lab import rgb2lab
from tinct.errors import ParameterError
from tinct.pixels import check_image, check_mask, split_alpha, to_float_rgb


def _lab(image, name: str) -> np.ndarray:
    arr = check_image(image, name)
    rgb, _ = split_alpha(arr)
    if rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype.kind == "u":
        return rgb2lab(rgb)  # exact LUT path, no float copy
    return rgb2lab(to_float_rgb(rgb, name))


def _lab_pixels(image, mask, name: str, samples: int, seed: int) -> np.ndarray:
    lab = _lab(image, name)
    flat = lab.reshape(-1, 3)
    m = check_mask(mask, lab.shape[:2], f"{name}_mask")
    if m is not None:
        flat = flat[m.reshape(-1)]
    if samples > 0 and flat.shape[0] > samples:
        flat = flat[np.random.default_rng(seed).integers(0, flat.shape[0], samples)]
    return flat.astype(np.float64)


def projections(n: int, seed: int = 0, d: int = 3) -> np.ndarray:
    """``n`` fixed unit directions in R^d (seeded Gaussian draws, normalised): (n, d)."""
    v = np.random.default_rng(seed).standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sliced_wasserstein(result, reference, *, result_mask=None, reference_mask=None, n_projections: int = 64,
                       samples: int = 50_000, levels: int = 1000, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two images' CIELAB pixel distributions.

    ``SW_2 = sqrt(mean_theta W_2^2(<x, theta>, <y, theta>))`` over ``n_projections`` fixed, seeded
    unit directions; each 1-D W_2 is computed from ``levels`` matched quantiles, so the two images
    may differ in size. Units are CIELAB (Delta E-like); lower means the result's colours are
    distributed like the reference's. Images larger than ``samples`` pixels are subsampled (with
    replacement, fixed seed).

    References
    ----------
    .. [1] J. Rabin, G. Peyré, J. Delon, M. Bernot, "Wasserstein barycenter and its application to
           texture mixing", SSVM 2011.
    .. [2] N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and Radon Wasserstein barycenters of
           measures", J. Math. Imaging Vision 51, 2015.
    """
    if n_projections < 1:
        raise ParameterError(f"n_projections: must be >= 1, got {n_projections}")
    x = _lab_pixels(result, result_mask, "result", samples, seed)
    y = _lab_pixels(reference, reference_mask, "reference", samples, seed + 1)
    theta = projections(n_projections, seed)
    t32 = theta.astype(np.float32)
    px = _quantiles(t32 @ x.T.astype(np.float32), levels)  # (n_projections, levels)
    py = _quantiles(t32 @ y.T.astype(np.float32), levels)
    return float(np.sqrt(((px - py) ** 2).mean()))


def _quantiles(values: np.ndarray, levels: int) -> np.ndarray:
    """Row quantiles at the mid-points (i + 0.5) / levels, linear interpolation: (rows, levels)."""
    s = np.sort(values, axis=1)  # rows are contiguous: a fast sort per projection
    pos = (np.arange(levels) + 0.5) / levels * (s.shape[1] - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, s.shape[1] - 1)
    frac = pos - lo
    return s[:, lo].astype(np.float64) * (1 - frac) + s[:, hi] * frac


def _lightness(image, name: str) -> np.ndarray:
    return _lab(image, name)[..., 0].astype(np.float64)


def ssim_lightness(result, target) -> float:
    """SSIM (Wang et al. 2004) of the result's CIELAB L against the target's L (data range 100).

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
           error visibility to structural similarity", IEEE TIP 13(4), 2004.
    """
    from skimage.metrics import structural_similarity

    a, b = _lightness(result, "result"), _lightness(target, "target")
    if a.shape != b.shape:
        raise ParameterError(f"result: shape {a.shape} does not match the target's {b.shape}")
    if min(a.shape) < 7:
        raise ParameterError(f"result: SSIM needs at least 7x7 pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(structural_similarity(a, b, data_range=100.0))


def _grad_mag(lum: np.ndarray) -> np.ndarray:
    import cv2

    gx = cv2.Sobel(lum.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3)
    return np.hypot(gx, gy).astype(np.float64)


def edge_preservation(result, target) -> float:
    """Pearson correlation of Sobel gradient magnitudes of result L and target L.

    1 means the edges are where they were with proportional strengths (a global contrast change is
    not penalised); new edges (posterisation, banding, blocking) or lost edges lower the score.
    A flat image (no gradients) scores 1 against itself and 0 otherwise.
    """
    a, b = _lightness(result, "result"), _lightness(target, "target")
    if a.shape != b.shape:
        raise ParameterError(f"result: shape {a.shape} does not match the target's {b.shape}")
    ga, gb = _grad_mag(a).ravel(), _grad_mag(b).ravel()
    ga -= ga.mean()
    gb -= gb.mean()
    den = np.sqrt((ga @ ga) * (gb @ gb))
    if den == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float((ga @ gb) / den)


def delta_e(result, truth, kind: str = "2000") -> float:
    """Mean colour difference between two images of the same size: CIEDE2000 or CIE76 (Delta E_ab).

    References
    ----------
    .. [1] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula: implementation notes,
           supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005.
    """
    a, b = _lab(result, "result"), _lab(truth, "truth")
    if a.shape != b.shape:
        raise ParameterError(f"result: shape {a.shape} does not match the truth's {b.shape}")
    if kind == "76":
        return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum(-1)).mean())
    if kind != "2000":
        raise ParameterError(f"kind: expected '2000' or '76', got {kind!r}")
    from skimage.color import deltaE_ciede2000

    return float(deltaE_ciede2000(a.astype(np.float64), b.astype(np.float64)).mean())


def transfer_scores(result, target, reference, *, reference_mask=None, result_mask=None) -> dict[str, float]:
    """All three transfer metrics at once: ``{'swd': ..., 'ssim_l': ..., 'edge': ...}``."""
    return {
        "swd": sliced_wasserstein(result, reference, result_mask=result_mask, reference_mask=reference_mask),
        "ssim_l": ssim_lightness(result, target),
        "edge": edge_preservation(result, target),
    }
