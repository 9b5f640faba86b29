"""Non-local matching of superpixel features, shared by colour transfer and exemplar colorization.

The methods are thin wrappers of :func:`recolour`: ``superpixel``
(:mod:`tinct.transfer.superpixel`) and ``exemplar``
(:mod:`tinct.colorize.exemplar`). Pipeline (Carrillo, Clement & Bugeau 2022
[1]_, as described by Leduc, Carrillo & Papadakis 2024 [2]_):

1. Target and reference(s) are resized so that their long side is ``size``
   (the working size) and cut into SLIC superpixels [3]_, about
   ``3 * floor(sqrt(h * w))`` of them (``segments=0``). ``fast_slic``'s
   implementation is used when that package is importable (about 10x faster),
   scikit-image's ``slic`` otherwise.
2. A feature backend (:mod:`tinct.exemplar.features`) gives three per-pixel
   feature maps; each is averaged inside each superpixel (one sparse
   matrix product, no loop over superpixels): super-features ``F_l``.
3. Per layer, the correlation ``M_l(i, j)`` of centred, L2-normalised target
   and reference super-features (eq. 2). Colour transfer averages the
   per-layer attentions ``A_l = softmax_j(M_l / tau)`` (eqs. 1, 3);
   colorization merges before the softmax, ``A = softmax_j(sum_l M_l / tau)``
   (eq. 7).
4. Colour fusion (eqs. 4-6): the colour of target pixel ``p`` is
   ``sum_j W(p, j) C_R(j) / sum_j W(p, j)`` with ``W(p, j) = sum_i d(p, i) A(i, j)``,
   ``C_R(j)`` the mean colour (CIELAB) of reference superpixel ``j`` and
   ``d(p, i) = exp(-(V(p) - V_i)^T Sigma_i^-1 (V(p) - V_i) / sigma_g)`` on
   position and target colour, ``Sigma_i = diag(delta_s^2 Cov_i(position),
   delta_c^2 Cov_i(colour))``. Because every row of ``A`` sums to one this is
   ``sum_i d(p, i) c_i / sum_i d(p, i)`` with ``c_i = A(i, :) C_R``, computed
   here for the ``neighbors`` superpixels whose centroids are nearest to
   ``p``'s own superpixel's centroid (the kernel vanishes beyond them), so the
   cost is linear in pixels; ``d`` is evaluated in the log domain with the
   per-pixel maximum removed (the ratio is invariant to it), so a sharp kernel
   never underflows to 0/0.
5. Only a and b are brought to full size, with the guided upsampler of
   :mod:`tinct.colorize.upsample` (guide: the target's full-resolution L); the
   output keeps the target's own L -- for transfer, unless ``gamut='lightness'``
   (its default) and the matched colour does not exist at that L: then L moves
   by the least amount that keeps the colour (:func:`lightness_shift`).

For colorization the reference is converted to gray with Rec. 601 weights
(:func:`tinct.color.rgb2gray`) for matching, and the colours are the colour
reference's. Several references: their superpixels are concatenated.

Defaults are the paper's (tau = 0.015, delta_s = 10, delta_c = 0.1, sigma_g =
1, 3 floor(sqrt(h w)) superpixels) except two choices the paper leaves open,
set by the split-image benchmark (``benchmarks/exemplar.py sweep``): the
working size (long side 256) and ``neighbors = 16`` (quality rose
monotonically from 1 to 16 neighbours, at little cost). The paper's transfer
keeps the target's own L and moves only chroma (``gamut='chroma'``); tinct's
default lets L give way where the matched colour is out of gamut at it, which
kept the reference's chroma on bright targets (see :func:`lightness_shift`).

References
----------
.. [1] H. Carrillo, M. Clement, A. Bugeau, "Non-local matching of superpixel-based
       deep features for color transfer", VISAPP 2022.
.. [2] R. Leduc, H. Carrillo, N. Papadakis, "Non-local matching of superpixel-based
       deep features for color transfer and colorization", hal-04394848, 2024.
.. [3] R. Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
       Methods", IEEE TPAMI 34(11), 2012.
.. [4] K. He, J. Sun, "Fast Guided Filter", arXiv:1505.00996, 2015.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinct.errors import ParameterError
from tinct.exemplar.features import BACKENDS, get_backend
from tinct.pixels import check_image, check_mask, from_float, output_dtype, restore, split_alpha, to_float_rgb
from tinct.registry import Param

# auto: colorization uses tinctnet when its trained weights are installed, else handcrafted; transfer uses
# handcrafted (both choices measured, see benchmarks/exemplar.py and tinct.exemplar.features.resolve_auto).
DEFAULT_BACKEND = "auto"

# The parameters of both methods.
PARAMS = [
    Param("backend", "str", DEFAULT_BACKEND,
          "Feature backend; auto = tinctnet for colorization when tinct's weights are installed, else handcrafted.",
          choices=("auto",) + BACKENDS),
    Param("weights", "str", None, "Weights file for backend vgg19bn (torchvision vgg19_bn .pth) or tinctnet.", path=True),
    Param("tau", "float", 0.015, "Softmax temperature of the attention (smaller = one-to-one matching).",
          min=1e-4, max=10.0),
    Param("delta_s", "float", 10.0, "Scale of the spatial covariance in the fusion kernel (eq. 6).", min=1e-3, max=1e4),
    Param("delta_c", "float", 0.1, "Scale of the colour covariance in the fusion kernel (eq. 6).", min=1e-4, max=1e4),
    Param("sigma_g", "float", 1.0, "Bandwidth of the fusion kernel d(p, i) (eq. 5).", min=1e-3, max=1e4),
    Param("segments", "int", 0, "Superpixels per image at the working size; 0 = 3 * floor(sqrt(h * w)).",
          min=0, max=100000),
    Param("size", "int", 256, "Long side of the working size (pixels); the result is brought back to full size.",
          min=32, max=4096),
    Param("neighbors", "int", 16, "Target superpixels (nearest centroids) in each pixel's fusion sum.", min=1, max=64),
    Param("compactness", "float", 10.0, "SLIC compactness (larger = more regular superpixels).", min=0.01, max=1000.0),
    Param("threads", "int", 0, "CPU threads for the network backends; 0 = library default.", min=0, max=512),
]

_SPATIAL_FLOOR = 0.25  # px^2 added to Sigma_s: keeps a one-pixel superpixel invertible
_COLOUR_FLOOR = 0.25  # (CIELAB units)^2 added to Sigma_c: a flat superpixel still tolerates noise
_CHUNK = 1 << 16  # pixels per block in the fusion step
_FAST_SLIC_MIN_SIDE = 8


# --------------------------------------------------------------------------- building blocks
def working_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(h, w) scaled so the long side is at most ``size`` (never enlarged)."""
    s = min(1.0, size / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def default_segments(h: int, w: int) -> int:
    """The paper's superpixel count: ``3 * floor(sqrt(h * w))``."""
    return 3 * int(math.floor(math.sqrt(h * w)))


def _resize(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from tinct.colorize.upsample import resize

    return resize(arr, shape)


def slic_labels(rgb: np.ndarray, n_segments: int, compactness: float = 10.0) -> np.ndarray:
    """SLIC superpixels of a float RGB image, relabelled to 0..N-1 (int32, no empty label).

    Uses ``fast_slic`` (AVX2 build when the CPU has it) when importable, else
    :func:`skimage.segmentation.slic`.
    """
    n_segments = max(1, int(n_segments))
    labels = None
    try:
        import fast_slic  # noqa: F401
    except ImportError:
        fast = False
    else:
        fast = True
    if fast and min(rgb.shape[:2]) >= _FAST_SLIC_MIN_SIDE:  # fast_slic dies with SIGFPE on 1x1 / 2x2 images
        labels = _fast_slic(rgb, n_segments, compactness)
    if labels is None:
        from skimage.segmentation import slic

        labels = slic(rgb, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=2,
                      enforce_connectivity=True)
    _, inverse = np.unique(labels.ravel(), return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32)


def _fast_slic(rgb, n_segments, compactness):
    try:
        from fast_slic.avx2 import SlicAvx2 as Slic
    except ImportError:  # no AVX2 build
        from fast_slic import Slic
    img = np.ascontiguousarray(from_float(rgb, np.uint8))
    try:
        return np.asarray(Slic(num_components=n_segments, compactness=compactness, num_threads=1).iterate(img))
    except Exception:  # a fast_slic failure (odd sizes, CPU features): fall back to scikit-image
        return None


def _pool_matrix(labels: np.ndarray, n: int, weights: np.ndarray | None = None):
    """Sparse (n, P) matrix whose row i averages the pixels of superpixel i (optionally weighted)."""
    from scipy import sparse

    flat = labels.ravel()
    w = np.ones(flat.size, np.float32) if weights is None else weights.ravel().astype(np.float32)
    counts = np.bincount(flat, weights=w, minlength=n)
    vals = w / np.maximum(counts, 1e-12)[flat]
    return sparse.csr_matrix((vals.astype(np.float32), (flat, np.arange(flat.size))), shape=(n, flat.size)), counts


def super_features(labels: np.ndarray, n: int, layers: list[np.ndarray], weights=None) -> list[np.ndarray]:
    """Average each (h, w, C) feature map inside each superpixel: list of (n, C) float32."""
    pool, _ = _pool_matrix(labels, n, weights)
    return [np.asarray(pool @ f.reshape(-1, f.shape[-1]), dtype=np.float32) for f in layers]


def correlation(ft: np.ndarray, fr: np.ndarray) -> np.ndarray:
    """Eq. 2: cosine of centred super-features, (N_T, C) x (N_R, C) -> (N_T, N_R) in [-1, 1]."""
    a = ft - ft.mean(axis=0, keepdims=True)
    b = fr - fr.mean(axis=0, keepdims=True)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def attention(ms: list[np.ndarray], tau: float, merge: str) -> np.ndarray:
    """Attention from per-layer correlations: ``'mean'`` of softmaxes (eq. 3) or softmax of the ``'sum'`` (eq. 7)."""
    if merge == "sum":
        return softmax_rows(np.sum(ms, axis=0) / np.float32(tau))
    if merge == "mean":
        return np.mean([softmax_rows(m / np.float32(tau)) for m in ms], axis=0)
    raise ParameterError(f"merge: expected 'mean' or 'sum', got {merge!r}")


@dataclass
class _Stats:
    """Per-superpixel position/colour centroids and inverse covariances of the fusion kernel."""

    centroid: np.ndarray  # (N, 2 + c)
    inv_s: np.ndarray  # (N, 2, 2)
    inv_c: np.ndarray  # (N, c, c)


def kernel_stats(labels: np.ndarray, n: int, colour: np.ndarray, delta_s: float, delta_c: float) -> _Stats:
    """Centroids and inverse of ``Sigma_i`` (eq. 6) for every superpixel, vectorised with bincount."""
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    flat = labels.ravel()
    cnt = np.maximum(np.bincount(flat, minlength=n).astype(np.float64), 1.0)
    v = np.concatenate([yy.reshape(-1, 1), xx.reshape(-1, 1), colour.reshape(h * w, -1).astype(np.float64)], axis=1)
    d = v.shape[1]
    mean = np.stack([np.bincount(flat, weights=v[:, k], minlength=n) for k in range(d)], axis=1) / cnt[:, None]
    cen = v - mean[flat]
    cov = np.empty((n, d, d))
    for a in range(d):
        for b in range(a, d):
            cov[:, a, b] = cov[:, b, a] = np.bincount(flat, weights=cen[:, a] * cen[:, b], minlength=n) / cnt
    cs = cov[:, :2, :2] * delta_s**2 + np.eye(2) * _SPATIAL_FLOOR
    cc = cov[:, 2:, 2:] * delta_c**2 + np.eye(d - 2) * _COLOUR_FLOOR
    return _Stats(mean.astype(np.float32), np.linalg.inv(cs).astype(np.float32), np.linalg.inv(cc).astype(np.float32))


def fuse(labels: np.ndarray, colour: np.ndarray, stats: _Stats, values: np.ndarray, sigma_g: float,
         neighbors: int) -> np.ndarray:
    """Eqs. 4-5: per-pixel kernel average of superpixel values over the ``neighbors`` nearest superpixels.

    Parameters
    ----------
    labels : (h, w) int
    colour : (h, w, c) float
        The target's colour (or gray) in the kernel's units.
    stats : from :func:`kernel_stats`
    values : (N, k) float
        ``c_i = A(i, :) C_R`` for every target superpixel.

    Returns
    -------
    (h, w, k) float32
    """
    from scipy.spatial import cKDTree

    h, w = labels.shape
    n = stats.centroid.shape[0]
    k = min(int(neighbors), n)
    pos_c = stats.centroid[:, :2]
    if k == 1:
        nbr = np.arange(n)[:, None]
    else:
        nbr = cKDTree(pos_c).query(pos_c, k=k)[1].reshape(n, k)
        nbr[:, 0] = np.arange(n)  # own superpixel first even when centroids coincide
    flat = labels.ravel()
    col = colour.reshape(h * w, -1).astype(np.float32)
    out = np.empty((h * w, values.shape[1]), np.float32)
    vals = values.astype(np.float32)
    for s in range(0, h * w, _CHUNK):
        e = min(h * w, s + _CHUNK)
        idx = np.arange(s, e)
        cand = nbr[flat[s:e]]  # (B, K)
        dy = (idx // w).astype(np.float32)[:, None] - pos_c[cand, 0]
        dx = (idx % w).astype(np.float32)[:, None] - pos_c[cand, 1]
        isv = stats.inv_s[cand]  # (B, K, 2, 2)
        q = isv[..., 0, 0] * dy * dy + 2 * isv[..., 0, 1] * dy * dx + isv[..., 1, 1] * dx * dx
        dc = col[s:e, None, :] - stats.centroid[cand, 2:]  # (B, K, c)
        q += np.einsum("bki,bkij,bkj->bk", dc, stats.inv_c[cand], dc, optimize=True)
        logd = q * np.float32(-1.0 / sigma_g)
        logd -= logd.max(axis=1, keepdims=True)
        np.exp(logd, out=logd)
        out[s:e] = np.einsum("bk,bkc->bc", logd, vals[cand]) / logd.sum(axis=1, keepdims=True)
    return out.reshape(h, w, -1)


# --------------------------------------------------------------------------- both methods
def reference_list(reference, reference_mask) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Check ``reference`` (an array or a list of arrays) and its masks: a list of (float RGB, mask or None)."""
    refs = list(reference) if isinstance(reference, (list, tuple)) else [reference]
    if not refs:
        raise ParameterError("reference: an empty list; give at least one reference image")
    if reference_mask is None:
        masks = [None] * len(refs)
    elif isinstance(reference_mask, (list, tuple)):
        masks = list(reference_mask)
        if len(masks) != len(refs):
            raise ParameterError(f"reference_mask: {len(masks)} masks for {len(refs)} references")
    else:
        if len(refs) != 1:
            raise ParameterError("reference_mask: give a list with one mask per reference")
        masks = [reference_mask]
    out = []
    for k, (r, m) in enumerate(zip(refs, masks)):
        name = "reference" if len(refs) == 1 else f"reference[{k}]"
        if r is None:
            raise ParameterError(f"{name}: this method needs a colour reference image")
        r = check_image(r, name)
        rgb, _ = split_alpha(r)
        out.append((to_float_rgb(rgb, name), check_mask(m, r.shape[:2], f"{name.replace('reference', 'reference_mask')}")))
    return out


def _strips(h: int, w: int):
    """Row slices of about a quarter megapixel covering an (h, w) image.

    Lab -> RGB with the chroma gamut fit needs some 140 bytes of temporaries per pixel, so a quarter
    megapixel keeps them near 35 MB.
    """
    step = max(1, _CHUNK * 4 // max(w, 1))
    for y in range(0, h, step):
        yield slice(y, min(h, y + step))


def _working_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W[, C]) input at the working ``shape`` as float RGB in [0, 1].

    Integer images are area-averaged in their own dtype (OpenCV rounds the result to the nearest code, half a
    code at most, at the working size only), so no full-size float copy is made.
    """
    import cv2

    if rgb.dtype.kind == "u" and rgb.shape[:2] != shape:
        return to_float_rgb(cv2.resize(np.ascontiguousarray(rgb), (shape[1], shape[0]), interpolation=cv2.INTER_AREA))
    return _resize(to_float_rgb(rgb), shape)


_L_REACH = 32.0  # CIELAB L units a pixel may move to keep its matched colour's chroma
_L_STEP = 4.0
_SHIFT_SIGMA = 2.0  # working-size pixels


def _in_gamut(lab: np.ndarray) -> np.ndarray:
    from tinct.color.lab import lab2rgb_linear

    eps = np.float32(1e-6)
    rgb = lab2rgb_linear(lab)
    return ((rgb >= -eps) & (rgb <= 1 + eps)).all(axis=1)


def _max_chroma_scale(L: np.ndarray, ab: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Largest s in [0, 1] with (L, s a, s b) inside the sRGB gamut (bisection), (N,) float32."""
    lab = np.concatenate([L[:, None], ab], axis=1).astype(np.float32)
    lo = _in_gamut(lab).astype(np.float32)  # 1 where the colour already fits
    hi = np.ones(L.shape, np.float32)
    todo = np.flatnonzero(lo < 1)
    for _ in range(iterations):
        mid = (lo[todo] + hi[todo]) * np.float32(0.5)
        trial = lab[todo].copy()
        trial[:, 1:] *= mid[:, None]
        ok = _in_gamut(trial)
        lo[todo[ok]] = mid[ok]
        hi[todo[~ok]] = mid[~ok]
    return lo


def lightness_shift(L: np.ndarray, ab: np.ndarray, reach: float = _L_REACH, step: float = _L_STEP) -> np.ndarray:
    """The change of L that loses the least of a colour which does not fit the sRGB gamut at its own L.

    Keeping the target's L and shrinking chroma until the colour fits (``gamut='chroma'``) is what
    washed matched colours out: on flowers recoloured from an evening sky the matched ab had the sky's
    chroma (43) and the result 31, because vivid oranges and purples do not exist at a petal's lightness.
    Here each out-of-gamut pixel takes the L within ``reach`` that minimises ``dL^2 + dC^2`` (hue kept: a
    hue-preserving minimum Delta E gamut mapping on a grid of ``step``); pixels in gamut keep their L.
    ``L`` (h, w), ``ab`` (h, w, 2) at the working size; returns the (h, w) float32 shift.
    """
    flat_l = L.reshape(-1).astype(np.float32)
    flat_ab = ab.reshape(-1, 2).astype(np.float32)
    shift = np.zeros(flat_l.shape, np.float32)
    bad = np.flatnonzero(~_in_gamut(np.concatenate([flat_l[:, None], flat_ab], axis=1)))
    if bad.size == 0:
        return shift.reshape(L.shape)
    l0, ab0 = flat_l[bad], flat_ab[bad]
    chroma = np.hypot(ab0[:, 0], ab0[:, 1])
    best = np.full(bad.size, np.inf, np.float32)
    best_d = np.zeros(bad.size, np.float32)

    def consider(d):
        lc = np.clip(l0 + d, 0.0, 100.0)
        cost = (lc - l0) ** 2 + ((1 - _max_chroma_scale(lc, ab0)) * chroma) ** 2
        better = cost < best
        best[better] = cost[better]
        best_d[better] = (lc - l0)[better]

    for d in np.arange(-reach, reach + step / 2, step, dtype=np.float32):  # coarse grid over the reach
        consider(np.full(bad.size, d, np.float32))
    centre = best_d.copy()
    for d in np.arange(-step + step / 8, step, step / 8, dtype=np.float32):  # then 1/8 of a step around the best
        consider(centre + d)
    shift[bad] = best_d
    return shift.reshape(L.shape)


def _upsample_rows(small: np.ndarray, H: int, W: int, rows: slice) -> np.ndarray:
    """Rows ``rows`` of the bilinear (half-pixel-centre) resize of (h, w) ``small`` to (H, W)."""
    import cv2

    h, w = small.shape
    ys = (np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5) * np.float32(h / H) - 0.5
    xs = (np.arange(W, dtype=np.float32) + 0.5) * np.float32(w / W) - 0.5
    map_x = np.ascontiguousarray(np.broadcast_to(xs[None, :], (ys.size, W)))
    map_y = np.ascontiguousarray(np.broadcast_to(ys[:, None], (ys.size, W)))
    return cv2.remap(np.ascontiguousarray(small, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _segment_count(segments: int, h: int, w: int) -> int:
    return segments if segments > 0 else default_segments(h, w)


def _match(target_rgb_w, refs, *, colorize, backend, weights, tau, segments, compactness, threads):
    """Steps 1-3: superpixels, super-features, attention and ``c_i`` (N_T, 2) ab per target superpixel.

    ``target_rgb_w`` is the target at the working size (gray on three channels for colorization); ``refs`` is a
    list of (rgb float full size, mask or None).
    """
    from tinct.color import rgb2gray, rgb2lab

    if backend == "auto" and not colorize and weights is None:
        backend = "handcrafted"  # measured best for transfer (transfer-pairs swd), and weight-free
    be = get_backend(backend, weights, threads)
    h, w = target_rgb_w.shape[:2]
    labels_t = slic_labels(target_rgb_w, _segment_count(segments, h, w), compactness)
    n_t = int(labels_t.max()) + 1
    ft = super_features(labels_t, n_t, be.layers(target_rgb_w))

    fr_all: list[list[np.ndarray]] = []
    colours = []
    for rgb, mask in refs:
        rh, rw = working_shape(*rgb.shape[:2], max(h, w))
        rgb_w = _resize(rgb, (rh, rw))
        m_w = None
        if mask is not None:
            m_w = _resize(mask.astype(np.float32), (rh, rw)) > 0.5
            if not m_w.any():  # a thin mask vanished when shrinking: keep its nearest pixels
                m_w = _resize(mask.astype(np.float32), (rh, rw)) > 0
        labels_r = slic_labels(rgb_w, _segment_count(segments, rh, rw), compactness)
        n_r = int(labels_r.max()) + 1
        feat_img = rgb_w
        if colorize:
            g = rgb2gray(rgb_w)
            feat_img = np.repeat(g[..., None], 3, axis=2)
        weight = None if m_w is None else m_w.astype(np.float32)
        fr = super_features(labels_r, n_r, be.layers(feat_img), weight)
        lab = rgb2lab(rgb_w)
        col = super_features(labels_r, n_r, [lab[..., 1:]], weight)[0]
        keep = np.ones(n_r, bool)
        if m_w is not None:  # only superpixels mostly inside the reference mask give colour
            inside = np.bincount(labels_r.ravel(), weights=m_w.ravel().astype(np.float64), minlength=n_r)
            size = np.bincount(labels_r.ravel(), minlength=n_r)
            keep = inside >= 0.5 * size
            if not keep.any():
                keep = inside > 0
        fr_all.append([f[keep] for f in fr])
        colours.append(col[keep])
    fr = [np.concatenate([f[layer] for f in fr_all], axis=0) for layer in range(len(ft))]
    colours_r = np.concatenate(colours, axis=0)
    ms = [correlation(a, b) for a, b in zip(ft, fr)]
    att = attention(ms, tau, "sum" if colorize else "mean")
    return labels_t, att @ colours_r


def recolour(target, refs, target_mask, *, colorize: bool, backend, weights, tau, delta_s, delta_c, sigma_g, segments,
             size, neighbors, compactness, threads, gamut: str = "chroma") -> np.ndarray:
    """Steps 1-5 for one target: the method functions' work, ``colorize`` choosing the variant.

    ``refs`` comes from :func:`reference_list`; the parameters are those of :data:`PARAMS`. Colorization matches
    the gray target against the references' gray and merges the layers before the softmax (eq. 7); transfer
    averages the per-layer attentions (eq. 3). The result keeps the target's dtype and alpha, and its own L
    unless ``gamut='lightness'`` (transfer only), which moves L where the matched colour is out of gamut at it.
    """
    if gamut not in ("chroma", "lightness"):
        raise ParameterError(f"gamut: expected 'chroma' or 'lightness', got {gamut!r}")
    from tinct.color import lab2rgb, rgb2gray, rgb2lab, rgb2lightness
    from tinct.colorize.upsample import guided_upsample

    image = check_image(target, "image" if colorize else "target")
    rgb_in, _ = split_alpha(image)
    H, W = rgb_in.shape[:2]
    mask = check_mask(target_mask, (H, W), "mask" if colorize else "target_mask")
    h, w = working_shape(H, W, size)
    # Full resolution is only ever touched in strips (the guided upsampler works in bands): a float copy of a 12 MP RGB image
    # alone is 144 MB, and the Lab -> RGB step makes several more (the call peaked at 732 MB added).
    L_full = np.empty((H, W), np.float32)
    for rows in _strips(H, W):
        strip = rgb_in[rows]
        L_full[rows] = rgb2lightness(rgb2gray(strip) if colorize else strip)
    small = _working_rgb(rgb_in, (h, w))
    if colorize:
        gray_w = rgb2gray(small)  # Rec. 601 is linear: gray of the resized image
        target_w = np.repeat(gray_w[..., None], 3, axis=2)
        kernel_colour = rgb2lab(target_w)[..., :1]
    else:
        target_w = small
        kernel_colour = rgb2lab(target_w)
    labels_t, c_i = _match(target_w, refs, colorize=colorize, backend=backend, weights=weights, tau=tau,
                           segments=segments, compactness=compactness, threads=threads)
    n_t = c_i.shape[0]
    stats = kernel_stats(labels_t, n_t, kernel_colour, delta_s, delta_c)
    ab_w = fuse(labels_t, kernel_colour, stats, c_i, sigma_g, neighbors)
    if gamut == "lightness" and not colorize:
        shift = lightness_shift(kernel_colour[..., 0], ab_w)
        if _SHIFT_SIGMA > 0:
            import cv2

            # where the best shift jumps (in-gamut pixel beside one that needs 20 L less) the jump would be
            # a false contour; a little blur turns it into a ramp
            shift = cv2.GaussianBlur(shift, (0, 0), _SHIFT_SIGMA, borderType=cv2.BORDER_REFLECT)
        for rows in _strips(H, W):
            L_full[rows] += _upsample_rows(shift, H, W, rows)
        np.clip(L_full, 0.0, 100.0, out=L_full)
    ab = guided_upsample(ab_w, L_full) if (h, w) != (H, W) else ab_w
    dtype = output_dtype(image)
    same = rgb_in.dtype == dtype and rgb_in.ndim == 3 and rgb_in.shape[2] == 3
    out = np.empty((H, W, 3), dtype)
    for rows in _strips(H, W):
        lab = np.concatenate([L_full[rows, :, None], ab[rows]], axis=2)
        out[rows] = lab2rgb(lab, gamut="chroma", dtype=dtype)
        if mask is not None:  # outside the mask: the input, bit for bit (gray inputs: their value on all channels)
            outside = ~mask[rows]
            keep = rgb_in[rows] if same else from_float(to_float_rgb(rgb_in[rows]), dtype)
            out[rows][outside] = keep[outside]
    return restore(out, image)
