"""Monge-Kantorovitch linear colour transfer (Pitié & Kokaram 2007).

The target colours are modelled as one Gaussian N(mu_t, S_t) and the reference colours as
N(mu_r, S_r); each target pixel moves by the optimal-transport (Monge) map between them,
``x' = A (x - mu_t) + mu_r`` with ``A = S_t^{-1/2} (S_t^{1/2} S_r S_t^{1/2})^{1/2} S_t^{-1/2}``.
It is ``gmm`` with one component, computed directly from the pixel statistics.
"""

from __future__ import annotations

import numpy as np

from tinct.pixels import restore
from tinct.registry import Param, register
from tinct.transfer._common import (
    BLOCK,
    apply_pointwise,
    check_space,
    gaussian_ot_map,
    prepare_pair,
    sample_pixels,
    scale_of,
    to_space,
)
from tinct.transfer._params import FEATHER, STRENGTH, TRANSFER_INPUTS, samples_param, space_param

_FLOOR = {"rgb": 1e-8, "lab": 1e-4}  # eigenvalue floor of S_t: keeps flat images from exploding


def mean_cov(pixels: np.ndarray, space: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of (N, 3) caller-dtype pixels in ``space``, block by block."""
    n = pixels.shape[0]
    total = np.zeros(3)
    blocks = []
    for s in range(0, n, BLOCK):
        x = to_space(pixels[s : s + BLOCK], space)
        total += x.sum(axis=0, dtype=np.float64)
        blocks.append(s)
    mean = total / n
    cov = np.zeros((3, 3))
    for s in blocks:
        x = to_space(pixels[s : s + BLOCK], space).astype(np.float64)
        x -= mean
        cov += x.T @ x
    return mean, cov / n


def mkl_map(mu_t, cov_t, mu_r, cov_r, space: str = "rgb") -> tuple[np.ndarray, np.ndarray]:
    """The affine map ``x -> A x + b`` of MKL transfer: returns (A, b) in float64."""
    a = gaussian_ot_map(cov_t, cov_r, _FLOOR[space])
    return a, mu_r - a @ mu_t


@register(
    "mkl",
    kind="transfer",
    summary="Monge-Kantorovitch linear map between the colour Gaussians of target and reference (Pitié 2007).",
    params=[
        space_param("Space the statistics live in (Pitié used RGB)."),
        samples_param(200_000, "for the statistics"),
        Param("seed", "int", 0, "Seed of the subsample.", min=0),
        FEATHER,
        STRENGTH,
    ],
    inputs=TRANSFER_INPUTS,
)
def mkl(target, reference, *, target_mask=None, reference_mask=None, color_space="rgb", samples=200_000, seed=0,
        feather=0.0, strength=1.0):
    """Recolour ``target`` by the linear optimal-transport map between colour Gaussians.

    Parameters
    ----------
    target : (H, W[, 1|3|4]) ndarray
        Image to recolour: uint8, uint16 or float in [0, 1]; alpha is kept.
    reference : (h, w[, 3|4]) ndarray
        Colour image whose colours are taken (a gray reference is refused).
    target_mask, reference_mask : array_like, optional
        Nonzero = inside; statistics come from the masked pixels and only masked target
        pixels change (the others are returned bit-identical).
    color_space : {'rgb', 'lab'}, default 'rgb'
    samples : int, default 200000
        The means and covariances are computed on a seeded subsample of this many pixels
        per image (0 = every pixel; the sampling error of the covariance is then about
        0.3 %); the map is applied to every masked pixel.
    seed : int, default 0
    feather : float, default 0
        Inner soft edge of the target mask, in pixels.
    strength : float, default 1
        ``x + s (A x + b - x)``.

    Returns
    -------
    ndarray
        Same shape and dtype as ``target`` (float input gives float32).

    Notes
    -----
    ``A`` is symmetric positive definite and ``A S_t A = S_r``: the result has exactly the
    reference's mean and covariance (up to gamut clipping), and among all maps that do so
    it moves colours the least in mean squared distance. Without a mask, feather, in RGB,
    the affine map runs in OpenCV's ``cv2.transform`` on the caller's integer pixels.

    References
    ----------
    .. [1] F. Pitié, A. Kokaram, "The linear Monge-Kantorovitch linear colour mapping for
           example-based colour transfer", 4th IET European Conference on Visual Media
           Production (CVMP), 2007.
    .. [2] I. Olkin, F. Pukelsheim, "The distance between two random vectors with given
           dispersion matrices", Linear Algebra and its Applications 48, 1982.
    """
    space = check_space(color_space)
    pair = prepare_pair(target, reference, target_mask, reference_mask, method="mkl", min_pixels=2)
    mu_t, cov_t = mean_cov(sample_pixels(pair.t_rgb, pair.t_mask, samples, seed), space)
    mu_r, cov_r = mean_cov(sample_pixels(pair.r_rgb, pair.r_mask, samples, seed), space)
    a, b = mkl_map(mu_t, cov_t, mu_r, cov_r, space)
    if space == "rgb" and pair.t_mask is None and feather == 0:
        return restore(_affine_rgb(pair.t_rgb, a, b, strength, pair.dtype), pair.target)
    a32 = a.T.astype(np.float32)
    b32 = b.astype(np.float32)

    def func(x):
        y = x @ a32
        y += b32
        return y

    out = apply_pointwise(pair, func, space, strength=strength, feather=feather)
    return restore(out, pair.target)


def _affine_rgb(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, strength: float, dtype) -> np.ndarray:
    """x -> A x + b on the whole image with cv2.transform (rounded, saturated for integers)."""
    import cv2

    a = np.eye(3) + strength * (a - np.eye(3))
    b = strength * b
    scale = scale_of(rgb.dtype)
    m = np.concatenate([a, (b * scale)[:, None]], axis=1)
    src = rgb if rgb.dtype.kind == "u" else rgb.astype(np.float32)
    if src.dtype.kind == "f":
        src = np.clip(src, 0.0, 1.0)
    out = np.empty(src.shape, src.dtype)
    rows = max(1, BLOCK // max(1, src.shape[1]))
    for s in range(0, src.shape[0], rows):
        out[s : s + rows] = cv2.transform(np.ascontiguousarray(src[s : s + rows]), m)
    if out.dtype.kind == "f":
        np.clip(out, 0.0, 1.0, out=out)
    return out if out.dtype == dtype else out.astype(dtype)
