"""Plumbing shared by the distribution-matching transfers (``gmm``, ``mkl``, ``sliced``; ``reinhard`` for its checks).

Everything here is vectorised and works in blocks of about a megapixel, so a
12-megapixel image never needs a full-size float64 temporary:

- :func:`prepare_pair` validates the two images and masks once;
- :func:`sample_pixels` draws a seeded, deterministic subsample of masked pixels;
- :func:`to_space` / :func:`from_space` convert pixel blocks to the working colour space and back;
- :func:`apply_pointwise` applies a colour map to the masked target pixels block by block, leaving
  pixels outside the mask bit-identical, with an optional feathered (inward) mask edge;
- :func:`gaussian_ot_map` and :func:`symmetric_kl` are the Gaussian formulas used by ``gmm`` and ``mkl``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinct.color.lab import lab2rgb, rgb2lab
from tinct.errors import ParameterError
from tinct.pixels import _INT_SCALE, check_image, check_mask, from_float, output_dtype, split_alpha
from tinct.transfer._params import SPACES

BLOCK = 1 << 20  # pixels per block


@dataclass
class Pair:
    """A validated target/reference pair, colour channels in the caller's dtype (no copies)."""

    target: np.ndarray  # the caller's array as given (for restore: alpha, dtype)
    t_rgb: np.ndarray  # (H, W, 3) view or replicated gray, caller's dtype
    r_rgb: np.ndarray  # (h, w, 3)
    t_mask: np.ndarray | None
    r_mask: np.ndarray | None
    dtype: np.dtype  # output dtype

    @property
    def t_count(self) -> int:
        return int(self.t_rgb.shape[0] * self.t_rgb.shape[1] if self.t_mask is None else self.t_mask.sum())

    @property
    def r_count(self) -> int:
        return int(self.r_rgb.shape[0] * self.r_rgb.shape[1] if self.r_mask is None else self.r_mask.sum())


def _as_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr


def prepare_pair(target, reference, target_mask, reference_mask, *, method: str, min_pixels: int = 2,
                 gray_reference: bool = False) -> Pair:
    """Validate images and masks; refuse masks with fewer than ``min_pixels`` pixels and, unless
    ``gray_reference`` (a method that also transfers lightness alone), a gray reference."""
    target = check_image(target, "target")
    reference = check_image(reference, "reference")
    t_rgb, _ = split_alpha(target)
    r_rgb, _ = split_alpha(reference)
    t_mask = check_mask(target_mask, target.shape[:2], "target_mask")
    r_mask = check_mask(reference_mask, reference.shape[:2], "reference_mask")
    pair = Pair(target, _as_rgb(t_rgb), _as_rgb(r_rgb), t_mask, r_mask, output_dtype(target))
    if not gray_reference and (r_rgb.ndim == 2 or r_rgb.shape[2] == 1
                               or _gray_pixels(sample_pixels(pair.r_rgb, r_mask, 100_000, 0))):
        raise ParameterError(f"reference: is grayscale, it has no colours for {method} to transfer")
    for name, count in (("target", pair.t_count), ("reference", pair.r_count)):
        if count < min_pixels:
            where = f"under {name}_mask" if (pair.t_mask if name == "target" else pair.r_mask) is not None else "in"
            raise ParameterError(
                f"{name}_mask: only {count} pixels {where} the {name}; {method} needs at least {min_pixels}"
            )
    return pair


def _gray_pixels(pixels: np.ndarray, tolerance: float = 1.0 / 255.0) -> bool:
    """True if 99% of the (N, 3) pixels have channels within ``tolerance`` (as :func:`tinct.pixels.is_grayscale`)."""
    c = [pixels[:, i].astype(np.float32) for i in range(3)]
    spread = np.maximum(np.maximum(c[0], c[1]), c[2]) - np.minimum(np.minimum(c[0], c[1]), c[2])
    return bool(np.percentile(spread, 99) <= tolerance * scale_of(pixels.dtype))


def sample_pixels(rgb: np.ndarray, mask: np.ndarray | None, n: int, seed: int) -> np.ndarray:
    """A deterministic subsample of (at most about) ``n`` pixels, (n, 3) in the caller's dtype.

    All pixels are returned when there are at most ``n`` (``n <= 0`` means all).
    Otherwise ``n`` indices are drawn with replacement by a seeded generator.
    """
    flat = rgb.reshape(-1, 3)
    if mask is None:
        total = flat.shape[0]
        if n <= 0 or total <= n:
            return flat
        return flat[np.random.default_rng(seed).integers(0, total, n)]
    idx = np.flatnonzero(mask)
    if n > 0 and idx.size > n:
        idx = idx[np.random.default_rng(seed).integers(0, idx.size, n)]
    return flat[idx]


def scale_of(dtype) -> float:
    return _INT_SCALE.get(np.dtype(dtype), 1.0)


def to_space(block: np.ndarray, space: str) -> np.ndarray:
    """(N, 3) pixels in the caller's dtype -> float32 working space (rgb in [0, 1], or CIELAB)."""
    if space == "lab":
        return rgb2lab(block if block.dtype.kind == "u" else np.clip(block, 0, 1))
    scale = scale_of(block.dtype)
    out = block.astype(np.float32)
    if scale != 1.0:
        out *= np.float32(1.0 / scale)
    else:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def from_space(block: np.ndarray, space: str, dtype) -> np.ndarray:
    """Working-space float32 (N, 3) -> caller's dtype (rounded, clipped to the sRGB cube)."""
    if space == "lab":
        return lab2rgb(block, dtype=dtype)
    return from_float(block, dtype)


def check_space(space: str) -> str:
    if space not in SPACES:
        raise ParameterError(f"color_space: expected one of {', '.join(SPACES)}; got {space!r}")
    return space


def feather_weights(mask: np.ndarray, feather: float) -> np.ndarray:
    """Inward feather: weight 1 deep inside the mask, ramping to ~0 at its edge, 0 outside (float32).

    The ramp is ``min(1, d / feather)`` with ``d`` the Euclidean distance (pixels) to the nearest
    pixel outside the mask, so pixels outside stay untouched while the edge blends smoothly.
    """
    import cv2

    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if m.all():  # no outside pixel: distances are infinite, everything is deep inside
        return np.ones(m.shape, np.float32)
    pad = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    dist = cv2.distanceTransform(pad, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    dist *= np.float32(1.0 / feather)
    np.minimum(dist, 1.0, out=dist)
    return dist


def apply_pointwise(pair: Pair, func, space: str, *, strength: float = 1.0, feather: float = 0.0) -> np.ndarray:
    """Apply ``func`` ((N, 3) float32 in ``space`` -> same) to the masked target pixels.

    Pixels outside ``pair.t_mask`` are copied bit for bit (converted to the output dtype
    only when the caller passed float64). ``strength`` blends ``x + s * (f(x) - x)``;
    ``feather`` > 0 additionally ramps the blend weight from the mask edge inward.
    Returns the (H, W, 3) result in the output dtype, without alpha.
    """
    t = pair.t_rgb
    h, w = t.shape[:2]
    flat = t.reshape(-1, 3)
    dtype = pair.dtype
    weight = None
    if feather > 0:
        base = pair.t_mask if pair.t_mask is not None else np.ones((h, w), bool)
        weight = feather_weights(base, feather).reshape(-1)
    if pair.t_mask is None:
        out = np.empty((h * w, 3), dtype)
        idx = None
        n = h * w
    else:
        out = flat.astype(dtype, copy=True) if flat.dtype == dtype else from_float(flat, dtype)
        idx = np.flatnonzero(pair.t_mask)
        n = idx.size
    for s in range(0, n, BLOCK):
        sel = slice(s, s + BLOCK) if idx is None else idx[s : s + BLOCK]
        x = to_space(flat[sel], space)
        y = func(x)
        wgt = None
        if weight is not None:
            wgt = weight[sel] * np.float32(strength)
        elif strength != 1.0:
            wgt = np.float32(strength)
        if wgt is not None:
            y -= x
            y *= wgt if np.ndim(wgt) == 0 else wgt[:, None]
            y += x
        out[sel] = from_space(y, space, dtype)
    return out.reshape(h, w, 3)


def sqrtm_psd(s: np.ndarray, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root of a symmetric PSD matrix and its inverse (eigenvalues floored)."""
    vals, vecs = np.linalg.eigh((s + s.T) / 2)
    vals = np.maximum(vals, floor if floor > 0 else 1e-12 * max(vals.max(), 1e-300))
    root = np.sqrt(vals)
    return (vecs * root) @ vecs.T, (vecs / root) @ vecs.T


def gaussian_ot_map(cov_t: np.ndarray, cov_r: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """The linear Monge map between N(0, cov_t) and N(0, cov_r).

    ``A = S_t^{-1/2} (S_t^{1/2} S_r S_t^{1/2})^{1/2} S_t^{-1/2}`` is symmetric positive
    definite, satisfies ``A S_t A = S_r`` and is the unique such map that is the gradient
    of a convex function, hence the optimal transport map for the squared Euclidean cost
    (Olkin & Pukelsheim 1982; Knott & Smith 1984). Pitié & Kokaram (2007) call it MKL.

    The map ``S_r S_t^{-1}`` (Shapira et al. 2009) is not a transport map between the two
    Gaussians: it sends covariance ``S_t`` to ``S_r S_t^{-1} S_r``, which equals ``S_r`` only
    when the matrices coincide (in one dimension it scales by the variance ratio
    ``s_r^2 / s_t^2`` instead of the deviation ratio ``s_r / s_t``), and it is not symmetric in
    general, so it is not the gradient of a convex potential.
    """
    root_t, inv_root_t = sqrtm_psd(cov_t, floor)
    middle, _ = sqrtm_psd(root_t @ cov_r @ root_t)
    a = inv_root_t @ middle @ inv_root_t
    return (a + a.T) / 2


def symmetric_kl(mu_p, cov_p, mu_q, cov_q) -> np.ndarray:
    """Symmetric Kullback-Leibler divergence KL(p||q) + KL(q||p) between Gaussians.

    Broadcasts over leading axes: ``mu`` (..., d), ``cov`` (..., d, d).
    ``0.5 [tr(Sq^-1 Sp) + tr(Sp^-1 Sq) - 2d + dmu^T (Sp^-1 + Sq^-1) dmu]``.
    """
    d = mu_p.shape[-1]
    inv_p = np.linalg.inv(cov_p)
    inv_q = np.linalg.inv(cov_q)
    dmu = mu_p - mu_q
    tr = np.einsum("...ij,...ji->...", inv_q, cov_p) + np.einsum("...ij,...ji->...", inv_p, cov_q)
    maha = np.einsum("...i,...ij,...j->...", dmu, inv_p + inv_q, dmu)
    return 0.5 * (tr - 2 * d + maha)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` (H, W[, C]) guided by a gray ``guide`` (H, W), float32.

    The guided filter of He, Sun & Tang: locally ``q = a I + b`` fitted in (2r+1)^2 windows, so
    ``src`` is smoothed except where the guide has edges. Box filters make it O(N) in the radius.

    References
    ----------
    .. [1] K. He, J. Sun, X. Tang, "Guided image filtering", ECCV 2010; IEEE TPAMI 35(6), 2013.
    """
    import cv2

    k = (2 * radius + 1, 2 * radius + 1)

    def box(a):
        return cv2.boxFilter(a, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)

    g = guide.astype(np.float32, copy=False)
    mean_g = box(g)
    var_g = box(g * g)
    var_g -= mean_g * mean_g
    var_g += np.float32(eps)
    chans = [src] if src.ndim == 2 else [src[..., c] for c in range(src.shape[2])]
    out = []
    for p in chans:
        p = np.ascontiguousarray(p, dtype=np.float32)
        mean_p = box(p)
        a = box(g * p)
        a -= mean_g * mean_p
        a /= var_g
        b = mean_p - a * mean_g
        q = box(a)
        q *= g
        q += box(b)
        out.append(q)
    return out[0] if src.ndim == 2 else np.stack(out, axis=2)


def regrain(pair: Pair, result: np.ndarray, radius: int, eps: float = 1e-3) -> np.ndarray:
    """Keep the target's fine detail: smooth the colour change (result - target) with a guided filter.

    Transfers that move each pixel independently along steep parts of a map amplify noise and
    JPEG grain. Filtering the change, guided by the target's luminance, keeps its large-scale part
    and its edges while the target's own texture is put back. Pixels outside the target mask are
    left bit-identical. ``result`` is (H, W, 3) in the output dtype; so is the return value.
    """
    from tinct.color.gray import rgb2gray

    h, w = result.shape[:2]
    out = np.empty_like(result)
    rows = max(1, BLOCK // max(1, w))
    halo = 2 * radius + 1  # a box of a box reaches 2r rows: strips with this halo are exact
    t_scale = np.float32(1.0 / scale_of(pair.t_rgb.dtype))
    r_scale = np.float32(1.0 / scale_of(pair.dtype))
    for s in range(0, h, rows):
        lo, hi = max(0, s - halo), min(h, s + rows + halo)
        t = pair.t_rgb[lo:hi].astype(np.float32) * t_scale
        diff = result[lo:hi].astype(np.float32) * r_scale
        diff -= t
        smooth = guided_filter(rgb2gray(t), diff, radius, eps)
        smooth += t
        keep = slice(s - lo, s - lo + min(rows, h - s))
        out[s : s + rows] = from_float(smooth[keep], pair.dtype)
    if pair.t_mask is not None:
        out[~pair.t_mask] = result[~pair.t_mask]
    return out
