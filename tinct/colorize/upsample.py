"""Edge-aware upsampling of predicted ab, guided by the full-resolution lightness.

The network predicts ab at 1/4 of its input size (64 x 64 for a 256 input).
Bilinear upsampling smears colour across object edges; the guided filter of
He, Sun & Tang fits, in every window, ab as a linear function of the guide L
(``q = a * I + b``) and so puts the colour edges where the L edges are. The
fast variant (He & Sun 2015) fits the coefficients at a working resolution
and upsamples only the smooth coefficient maps; the final ``A * L + B`` uses
the full-resolution L. This is implemented here with ``cv2.boxFilter``
(vectorised, O(1) per pixel in the radius) rather than ``cv2.ximgproc``:
that module is only in ``opencv-contrib``, which conflicts with the
``opencv-python-headless`` wheel the project depends on.

References
----------
.. [1] K. He, J. Sun, X. Tang, "Guided Image Filtering", IEEE TPAMI 35(6), 2013.
.. [2] K. He, J. Sun, "Fast Guided Filter", arXiv:1505.00996, 2015.
"""

from __future__ import annotations

import cv2
import numpy as np

from tinct.errors import ParameterError

WORK_SIDE = 512  # long side of the resolution the coefficients are fitted at
DEFAULT_EPS = 1e-3  # in (L / 100)^2 units: ~3 L units of local contrast count as an edge
DEFAULT_SIGMA_RANGE = 10.0  # L units: a sample 20 L units away weighs (1 + 4)^-2 = 0.04
BILATERAL_WORK_PIXELS = 2_000_000  # above this, bilateral at 2 MP then bilinear (see upsample_ab)
DEFAULT_SIGMA_SPACE = 0.4  # low-res pixels: close to bilinear's footprint (measured: benchmarks/upsample_quality.py)


def resize(arr: np.ndarray, size: tuple[int, int], interpolation: int | None = None) -> np.ndarray:
    """Resize (h, w) or (h, w, c) float32 to ``size`` = (H, W); area when shrinking, bilinear otherwise."""
    h, w = arr.shape[:2]
    H, W = size
    if (h, w) == (H, W):
        return arr.astype(np.float32, copy=True)
    if interpolation is None:
        interpolation = cv2.INTER_AREA if H <= h and W <= w else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(arr, np.float32), (W, H), interpolation=interpolation)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_upsample(ab_low: np.ndarray, lightness: np.ndarray, radius: int | None = None, eps: float = DEFAULT_EPS,
                    work_side: int = WORK_SIDE) -> np.ndarray:
    """Upsample ``ab_low`` (h, w, 2) to the size of ``lightness`` (H, W) with a fast guided filter.

    Parameters
    ----------
    ab_low : (h, w, 2) float array
        Low-resolution a, b.
    lightness : (H, W) float array
        Full-resolution CIELAB L in [0, 100], the guide.
    radius : int, optional
        Window radius at the working resolution; default: the size of one
        low-resolution ab pixel there (at least 2).
    eps : float
        Regularisation in (L/100)^2 units; larger = smoother, closer to bilinear.
    work_side : int
        Long side of the working resolution.

    Returns
    -------
    (H, W, 2) float32
    """
    if not eps > 0:
        raise ParameterError(f"eps: must be > 0, got {eps}")
    H, W = lightness.shape
    h, w = ab_low.shape[:2]
    scale = min(1.0, work_side / max(H, W))
    wh, ww = max(1, round(H * scale)), max(1, round(W * scale))
    if radius is None:
        radius = max(2, int(round(max(wh / max(h, 1), ww / max(w, 1)))))
    guide = resize(lightness.astype(np.float32) * np.float32(0.01), (wh, ww))
    p = resize(ab_low, (wh, ww), cv2.INTER_LINEAR)
    g3 = guide[..., None]
    mean_i = _box(guide, radius)[..., None]
    mean_p = _box(p, radius)
    corr_ip = _box(p * g3, radius)
    var_i = _box(guide * guide, radius)[..., None] - mean_i * mean_i
    a = (corr_ip - mean_i * mean_p) / (np.maximum(var_i, 0) + np.float32(eps))
    b = mean_p - a * mean_i
    coeffs = np.concatenate([_box(a, radius), _box(b, radius)], axis=2)  # (wh, ww, 4)
    out = np.empty((H, W, 2), np.float32)
    # Upsample the smooth coefficients band by band so a 12 MP image never needs a full-size 4-channel copy.
    band = max(1, 1_000_000 // max(W, 1))
    full = coeffs if (wh, ww) == (H, W) else None
    for y0 in range(0, H, band):
        y1 = min(H, y0 + band)
        if full is not None:
            c = full[y0:y1]
        else:
            c = _resize_band(coeffs, H, W, y0, y1)
        lum = lightness[y0:y1, :, None].astype(np.float32) * np.float32(0.01)
        out[y0:y1] = c[..., :2] * lum + c[..., 2:]
    return out


def _resize_band(src: np.ndarray, H: int, W: int, y0: int, y1: int) -> np.ndarray:
    """Rows y0:y1 of the bilinear (half-pixel-centre) resize of ``src`` to (H, W), via cv2.remap."""
    h, w = src.shape[:2]
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * np.float32(h / H) - 0.5
    xs = (np.arange(W, dtype=np.float32) + 0.5) * np.float32(w / W) - 0.5
    map_x = np.broadcast_to(xs[None, :], (y1 - y0, W))
    map_y = np.broadcast_to(ys[:, None], (y1 - y0, W))
    return cv2.remap(src, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def joint_bilateral_upsample(ab_low: np.ndarray, lightness: np.ndarray, sigma_range: float = DEFAULT_SIGMA_RANGE,
                             sigma_space: float = DEFAULT_SIGMA_SPACE) -> np.ndarray:
    """Joint bilateral upsampling of (h, w, 2) ab to the size of ``lightness`` (Kopf et al. 2007).

    Every full-resolution pixel averages the 4 x 4 nearest low-resolution ab
    samples, weighted by a spatial Gaussian (``sigma_space`` in low-resolution
    pixels) times a range kernel on the difference ``d`` between its own L and
    the sample's L (the full L area-averaged to the low grid):
    ``(1 + (d / sigma_range)^2)^-2``, a Cauchy-type edge-stopping function
    that needs no ``exp`` per pixel and tap. Samples across an L edge get
    almost no weight, so colour stops at the edge instead of ramping over it.
    Vectorised over pixels (a loop over the 16 taps only), in bands of about
    1 MP; the per-tap gathers are done once per low-resolution row.

    References
    ----------
    .. [1] J. Kopf, M. F. Cohen, D. Lischinski, M. Uyttendaele, "Joint Bilateral
           Upsampling", ACM TOG 26(3) (SIGGRAPH), 2007.
    .. [2] M. J. Black, G. Sapiro, D. H. Marimont, D. Heeger, "Robust Anisotropic
           Diffusion", IEEE TIP 7(3), 1998 (edge-stopping functions).
    """
    if not sigma_range > 0 or not sigma_space > 0:
        raise ParameterError(f"sigma_range, sigma_space: must be > 0, got {sigma_range}, {sigma_space}")
    H, W = lightness.shape
    h, w = ab_low.shape[:2]
    ab_low = np.ascontiguousarray(ab_low, np.float32)
    l_low = resize(lightness.astype(np.float32), (h, w), cv2.INTER_AREA).reshape(h, w)
    # Position of each full-res pixel centre in low-res pixel coordinates.
    py = (np.arange(H, dtype=np.float64) + 0.5) * (h / H) - 0.5
    px = (np.arange(W, dtype=np.float64) + 0.5) * (w / W) - 0.5
    y0 = np.floor(py).astype(np.int64) - 1
    x0 = np.floor(px).astype(np.int64) - 1
    inv2s = -0.5 / sigma_space**2
    inv_r2 = np.float32(1.0 / sigma_range**2)
    # Per horizontal tap: the low-res L and ab of every low-res row gathered to full width, times the x weight.
    taps_x = []
    for dx in range(4):
        ix = x0 + dx
        wx = np.exp(inv2s * (ix - px) ** 2).astype(np.float32)
        ix = np.clip(ix, 0, w - 1)
        taps_x.append((np.ascontiguousarray(l_low[:, ix]), np.ascontiguousarray(ab_low[:, ix]), wx))
    out = np.empty((H, W, 2), np.float32)
    band = max(1, 1_000_000 // max(W, 1))
    for r0 in range(0, H, band):
        r1 = min(H, r0 + band)
        lum = lightness[r0:r1].astype(np.float32)
        acc = np.zeros((r1 - r0, W, 2), np.float32)
        norm = np.zeros((r1 - r0, W), np.float32)
        for dy in range(4):
            iy = y0[r0:r1] + dy
            wy = np.exp(inv2s * (iy - py[r0:r1]) ** 2).astype(np.float32)[:, None]
            iy = np.clip(iy, 0, h - 1)
            for l_rows, ab_rows, wx in taps_x:
                d = lum - l_rows[iy]
                d *= d
                d *= inv_r2
                d += np.float32(1.0)
                d *= d
                wgt = np.reciprocal(d, out=d)
                wgt += np.float32(1e-6)  # never 0/0: falls back to the spatial weights
                wgt *= wy
                wgt *= wx
                norm += wgt
                acc += ab_rows[iy] * wgt[..., None]
        out[r0:r1] = acc / norm[..., None]
    return out


def bilinear_upsample(ab_low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Plain bilinear upsampling of (h, w, 2) ab to ``size`` (H, W), as the LearnOpenCV ECCV16 tutorial does."""
    return resize(ab_low, size, cv2.INTER_LINEAR)


def upsample_ab(ab_low: np.ndarray, lightness: np.ndarray, method: str = "bilateral",
                work_pixels: int = BILATERAL_WORK_PIXELS) -> np.ndarray:
    """Dispatch: ``'bilateral'`` (:func:`joint_bilateral_upsample`), ``'guided'`` or ``'bilinear'``.

    Joint bilateral upsampling runs at full resolution up to ``work_pixels``;
    above, at that many pixels (guide = L area-reduced), followed by bilinear
    upsampling of ab, which at 12 MP leaves colour transitions at most ~3 px wide
    and cuts the upsampling time about six-fold.
    """
    if method == "bilateral":
        H, W = lightness.shape
        if H * W <= work_pixels:
            return joint_bilateral_upsample(ab_low, lightness)
        scale = np.sqrt(work_pixels / (H * W))
        size = (max(1, round(H * scale)), max(1, round(W * scale)))
        ab_work = joint_bilateral_upsample(ab_low, resize(lightness, size, cv2.INTER_AREA).reshape(size))
        return resize(ab_work, (H, W), cv2.INTER_LINEAR)
    if method == "guided":
        return guided_upsample(ab_low, lightness)
    if method == "bilinear":
        return bilinear_upsample(ab_low, lightness.shape)
    raise ParameterError(f"upsample: expected 'bilateral', 'guided' or 'bilinear', got {method!r}")
