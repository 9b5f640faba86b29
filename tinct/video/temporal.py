"""Temporal consistency for colorized video: flow, scene cuts, ab smoothing, key-frame propagation, flicker.

All functions work on CIELAB lightness ``L`` (float32, 0..100) and chroma ``ab``
(float32, (H, W, 2)); the lightness of every output frame stays the input's.

* :func:`flow` -- dense optical flow between two lightness frames with OpenCV's
  DIS [1]_ (computed at most ``FLOW_SIDE`` pixels wide, then scaled up).
* :func:`warp` -- backward warping with the flow (``cv2.remap``), and
  :func:`confidence` -- how well the warped lightness matches, in [0, 1],
  which switches smoothing off where the flow is wrong (occlusions, new objects).
* :func:`scene_cuts` -- frames whose lightness histogram differs from the
  previous frame's by more than a threshold (Bhattacharyya distance [3]_);
  smoothing and propagation never cross a cut.
* :class:`FlowSmoother` -- recursive flow-guided temporal filtering of ab
  (blind temporal consistency in the spirit of Lai et al. [2]_ and Bonneel et
  al. [4]_): ``ab'_t = ab_t + s * c_t * (warp(ab'_{t-1}) - ab_t)``.
* :func:`propagate` -- colours of two key frames carried to the frames between
  them along the flow, forwards and backwards, blended by distance and
  confidence; where neither reaches (occlusions), an exemplar match from the
  nearer key frame (:func:`exemplar_ab`, a bilateral grid over position and L [5]_)
  fills in.
* :func:`flicker` -- the mean ab change between consecutive frames after flow
  warping, over well-tracked pixels: the flicker score reported by the benchmarks.

References
----------
.. [1] T. Kroeger, R. Timofte, D. Dai, L. Van Gool, "Fast Optical Flow using Dense Inverse
       Search", ECCV 2016.
.. [2] W.-S. Lai, J.-B. Huang, O. Wang, E. Shechtman, E. Yumer, M.-H. Yang, "Learning Blind
       Video Temporal Consistency", ECCV 2018.
.. [3] A. Bhattacharyya, "On a measure of divergence between two statistical populations",
       Bull. Calcutta Math. Soc. 1943 (as ``cv2.HISTCMP_BHATTACHARYYA``).
.. [4] N. Bonneel, J. Tompkin, K. Sunkavalli, D. Sun, S. Paris, H. Pfister, "Blind Video
       Temporal Consistency", SIGGRAPH Asia 2015.
.. [5] J. Chen, S. Paris, F. Durand, "Real-time Edge-Aware Image Processing with the Bilateral
       Grid", SIGGRAPH 2007.
"""

from __future__ import annotations

import numpy as np

from tinct.errors import ParameterError

FLOW_SIDE = 512  # flow is computed on frames at most this wide/high, then scaled up
PROPAGATE_SIDE = 432  # propagate works on frames at most this wide/high, then scales the colours up once
EXEMPLAR_SIDE = 480  # exemplar matching works on frames at most this wide/high
FILL_SIDE = 224  # propagate's fill: its grid cells are 32 px of the full frame anyway, and its weight is small
CONFIDENCE_SIGMA = 6.0  # L units: warped-lightness error at which confidence falls to exp(-1)
DEFAULT_CUT_THRESHOLD = 0.35
FILL_FRACTION = 0.01  # propagate: exemplar matching runs when more of a frame than this is reached by no flow

_DIS: dict = {}
_GRIDS: dict = {}


def _cv2():
    import cv2

    return cv2


def _u8(lightness: np.ndarray) -> np.ndarray:
    return np.clip(lightness * 2.55 + 0.5, 0, 255).astype(np.uint8)


def flow(l_to: np.ndarray, l_from: np.ndarray) -> np.ndarray:
    """Flow field ``f`` with ``l_to[y, x] ~ l_from[y + f[..., 1], x + f[..., 0]]`` (float32 (H, W, 2)).

    Parameters
    ----------
    l_to, l_from : (H, W) float ndarray
        CIELAB lightness (0..100) of the frame to warp to and the frame to warp from.
    """
    cv2 = _cv2()
    if l_to.shape != l_from.shape or l_to.ndim != 2:
        raise ParameterError(f"l_from: shapes differ or are not 2-D: {l_to.shape} vs {l_from.shape}")
    h, w = l_to.shape
    scale = min(1.0, FLOW_SIDE / max(h, w))
    a, b = _u8(l_to), _u8(l_from)
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    if min(a.shape) < 8:  # DIS needs a few pixels of patch; tiny frames are taken as still
        return np.zeros((h, w, 2), np.float32)
    dis = _DIS.get("fast")
    if dis is None:
        dis = _DIS["fast"] = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    f = dis.calc(a, b, None)
    if scale < 1.0:
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
        f[..., 0] *= w / a.shape[1]
        f[..., 1] *= h / a.shape[0]
    return f.astype(np.float32, copy=False)


def warp(image: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Backward-warp ``image`` ((H, W) or (H, W, C) float32) with the flow of :func:`flow`."""
    cv2 = _cv2()
    h, w = f.shape[:2]
    grid = _GRIDS.get((h, w))
    if grid is None:
        if len(_GRIDS) > 4:
            _GRIDS.clear()
        grid = _GRIDS[(h, w)] = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx, gy = grid
    return cv2.remap(np.ascontiguousarray(image, dtype=np.float32), gx + f[..., 0], gy + f[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def confidence(l_to: np.ndarray, l_warped: np.ndarray, sigma: float = CONFIDENCE_SIGMA) -> np.ndarray:
    """exp(-(|L_to - warped L| / sigma)^2), lightly blurred: 1 where the flow is right, 0 where it is not."""
    cv2 = _cv2()
    err = cv2.GaussianBlur(np.abs(l_to - l_warped).astype(np.float32), (0, 0), 1.5)
    return np.exp(-np.square(err / np.float32(sigma))).astype(np.float32)


def _histogram(lightness: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    small = lightness[:: max(1, lightness.shape[0] // 128), :: max(1, lightness.shape[1] // 128)]
    hist = cv2.calcHist([_u8(np.ascontiguousarray(small))], [0], None, [32], [0, 256])
    return hist / max(float(hist.sum()), 1.0)


class CutDetector:
    """Feed frames one at a time; :meth:`push` says whether a frame starts a new shot.

    A frame is a cut when its histogram distance to the previous frame exceeds
    ``threshold`` and is also well above the recent typical distance (so a
    steady change such as a fade or fast pan is not taken for a cut).
    """

    def __init__(self, threshold: float = DEFAULT_CUT_THRESHOLD):
        if not 0.0 < threshold <= 1.0:
            raise ParameterError(f"cut_threshold: must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._prev = None
        self._recent: list[float] = []

    def push(self, lightness: np.ndarray) -> bool:
        h = _histogram(lightness)
        if self._prev is None:
            self._prev = h
            return True
        cv2 = _cv2()
        d = float(cv2.compareHist(self._prev, h, cv2.HISTCMP_BHATTACHARYYA))
        self._prev = h
        typical = float(np.median(self._recent)) if self._recent else 0.0
        cut = d > self.threshold and d > 3.0 * typical
        self._recent = [] if cut else (self._recent + [d])[-8:]
        return cut


def scene_cuts(lightness_frames, threshold: float = DEFAULT_CUT_THRESHOLD) -> list[int]:
    """Indices of the frames that start a shot (always including 0)."""
    det = CutDetector(threshold)
    return [i for i, lt in enumerate(lightness_frames) if det.push(lt)]


class FlowSmoother:
    """Recursive flow-guided smoothing of ab; feed frames in order with :meth:`push`.

    Parameters
    ----------
    strength : float in [0, 1)
        Weight of the warped previous (smoothed) ab where the flow is reliable;
        0 turns smoothing off. The effective memory is about 1 / (1 - strength) frames.
    """

    def __init__(self, strength: float = 0.8):
        if not 0.0 <= strength < 1.0:
            raise ParameterError(f"strength: must be in [0, 1), got {strength}")
        self.strength = float(strength)
        self.state: tuple[np.ndarray, np.ndarray] | None = None  # (L, smoothed ab) of the last frame

    def push(self, lightness: np.ndarray, ab: np.ndarray, new_shot: bool = False) -> np.ndarray:
        """Smooth the ab of the next frame; ``new_shot`` (a scene cut) restarts the filter."""
        if self.state is None or new_shot or self.strength == 0.0 or self.state[0].shape != lightness.shape:
            out = ab.astype(np.float32, copy=True)
        else:
            l_prev, ab_prev = self.state
            f = flow(lightness, l_prev)
            c = confidence(lightness, warp(l_prev, f)) * np.float32(self.strength)
            out = ab + c[..., None] * (warp(ab_prev, f) - ab)
        self.state = (lightness, out)
        return out


def exemplar_ab(l_key: np.ndarray, ab_key: np.ndarray, l_target: np.ndarray, *, cell: int = 32,
                l_bins: int = 12, side: int = EXEMPLAR_SIDE) -> np.ndarray:
    """Colours for ``l_target`` matched from a key frame: a bilateral grid over (y, x, L) [5]_.

    The key frame's ab is splatted into cells of ``cell`` pixels and ``l_bins``
    lightness bins, blurred, and read back at each target pixel's position and
    lightness, so a pixel gets the colour of key-frame pixels that are nearby
    and of similar lightness. The matching works on frames at most ``side`` pixels wide/high.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    h, w = l_target.shape
    scale = min(1.0, side / max(h, w))
    if scale < 1.0:  # the grid is coarse anyway: work at a reduced size, bring the result back up
        cv2 = _cv2()
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = [cv2.resize(np.ascontiguousarray(x, dtype=np.float32), size, interpolation=cv2.INTER_AREA)
                 for x in (l_key, ab_key, l_target)]
        out = exemplar_ab(*small, cell=max(4, round(cell * scale)), l_bins=l_bins, side=side)
        return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    gh, gw = h // cell + 2, w // cell + 2
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    lk = np.clip(l_key, 0, 100) * (l_bins - 1) / 100.0
    idx = (np.round(ys / cell).astype(np.intp) * gw + np.round(xs / cell).astype(np.intp)) * l_bins + np.round(lk).astype(np.intp)
    size = gh * gw * l_bins
    weight = np.bincount(idx.ravel(), minlength=size).astype(np.float32).reshape(gh, gw, l_bins)
    grids = [np.bincount(idx.ravel(), weights=ab_key[..., c].ravel(), minlength=size).astype(np.float32)
             .reshape(gh, gw, l_bins) for c in range(2)]
    sig = (1.0, 1.0, 1.0)
    weight = gaussian_filter(weight, sig, mode="nearest")
    out = np.empty((h, w, 2), np.float32)
    coords = np.stack([ys / cell, xs / cell, np.clip(l_target, 0, 100) * (l_bins - 1) / 100.0])
    wt = map_coordinates(weight, coords, order=1, mode="nearest")
    for c in range(2):
        g = gaussian_filter(grids[c], sig, mode="nearest")
        out[..., c] = map_coordinates(g, coords, order=1, mode="nearest") / np.maximum(wt, 1e-6)
    return out


def _track(small: list[np.ndarray], order) -> list:
    """Flow from each frame of ``order`` back to the key frame ``order[0]``, and how far it is trusted.

    Returns, for each frame of ``small`` visited (others None), ``(F, C)``: ``F`` maps a pixel of the
    frame to its position in the key frame (``small[t][x] ~ small[key][x + F(x)]``), composed from
    the frame-to-frame flows (``F_t = f_t + warp(F_{t-1}, f_t)``), and ``C`` is the product of the
    :func:`confidence` of the steps along the way.
    """
    out: list = [None] * len(small)
    k = order[0]
    shape = small[k].shape
    out[k] = (np.zeros((*shape, 2), np.float32), np.ones(shape, np.float32))
    for prev, t in zip(order, order[1:]):
        f = flow(small[t], small[prev])
        f_prev, c_prev = out[prev]
        out[t] = (f + warp(f_prev, f), confidence(small[t], warp(small[prev], f)) * warp(c_prev, f))
    return out


def _sample(ab_key: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``ab_key`` read where the composed flow ``f`` (:func:`_track`, same size) points."""
    cv2 = _cv2()
    h, w = f.shape[:2]
    grid = _GRIDS.get(("xy", h, w))
    if grid is None:
        if len(_GRIDS) > 4:
            _GRIDS.clear()
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        grid = _GRIDS[("xy", h, w)] = np.dstack([gx, gy])
    return cv2.remap(ab_key, cv2.add(grid, f), None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def propagate(lightness: list[np.ndarray], ab_first: np.ndarray, ab_last: np.ndarray | None) -> list[np.ndarray]:
    """Colours for every frame of a run from its key frames: the first, and the last (if given).

    The work is done on frames at most ``PROPAGATE_SIDE`` pixels wide (ab is smooth: the network
    predicts it at about a quarter of that size): the flow is composed from frame to frame back to
    each key frame (:func:`_track`), each frame's ab is read from the key frames' ab in one remap each
    -- so colours are not resampled once per frame, which would blur them a little more with every
    step -- and blended, then brought to full size once.

    Parameters
    ----------
    lightness : list of (H, W) float32
        L of the frames ``k0 .. k1`` of one shot, both key frames included.
    ab_first, ab_last : (H, W, 2) float32
        ab of the key frames ``k0`` and ``k1`` (``ab_last=None``: only forward).

    Returns
    -------
    list of (H, W, 2) float32
        ab for every frame; the key frames keep theirs. The frames between get the key frames'
        colours carried along the flow, weighted by distance and confidence; where neither key
        frame is reached on more than ``FILL_FRACTION`` of a frame, colours matched from the nearer
        key frame (:func:`exemplar_ab`) fill in.
    """
    cv2 = _cv2()
    n = len(lightness)
    if n == 0:
        return []
    two = ab_last is not None and n > 1
    keys = [np.ascontiguousarray(ab_first, dtype=np.float32)]
    if two:
        keys.append(np.ascontiguousarray(ab_last, dtype=np.float32))
    h, w = lightness[0].shape
    ratio = min(1.0, PROPAGATE_SIDE / max(h, w))
    size = (max(8, round(w * ratio)), max(8, round(h * ratio))) if ratio < 1.0 else (w, h)

    def shrink(x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        return cv2.resize(x, size, interpolation=cv2.INTER_AREA) if size != (w, h) else x

    small = [shrink(lt) for lt in lightness]
    keys_small = [shrink(k) for k in keys]
    fwd = _track(small, list(range(n)))
    bwd = _track(small, list(range(n - 1, -1, -1))) if two else [None] * n
    eps = np.float32(0.02)
    out = [keys[0].copy()]
    for t in range(1, n - 1 if two else n):
        pos = np.float32(t / (n - 1))
        f_f, c_f = fwd[t]
        ab_f = _sample(keys_small[0], f_f)
        if two:  # (wf ab_f + wb ab_b + eps fill) / (wf + wb + eps), with fill = ab_f unless matched below
            f_b, c_b = bwd[t]
            wb = c_b * pos
            den = c_f * (np.float32(1.0) - pos) + wb + eps
            ab = ab_f + (wb / den)[..., None] * (_sample(keys_small[1], f_b) - ab_f)
            reached = np.maximum(c_f, c_b)
        else:
            ab, den, reached = ab_f, c_f + eps, c_f
        if float(np.count_nonzero(reached < 0.25)) > FILL_FRACTION * reached.size:
            # enough of the frame is reached by neither key frame's flow: match colours from the nearer key frame
            k = 0 if not two or pos <= 0.5 else 1
            fill = exemplar_ab(small[0 if k == 0 else -1], keys_small[k], small[t],
                               cell=max(4, round(32 * size[0] / w)), side=FILL_SIDE)
            ab = ab + (eps / den)[..., None] * (fill - ab_f)
        # else a few stray pixels: the colour carried forwards is a good enough stand-in (and far cheaper)
        out.append(cv2.resize(ab, (w, h), interpolation=cv2.INTER_LINEAR) if size != (w, h) else ab)
    if two:
        out.append(keys[1].copy())
    return out


def flicker(lightness: list[np.ndarray], ab: list[np.ndarray], cuts=(), min_confidence: float = 0.5) -> float:
    """Mean ab change between consecutive frames after flow warping (ab units; lower is steadier).

    Parameters
    ----------
    lightness, ab : lists of (H, W) and (H, W, 2) arrays
        L (used for the flow, so all results on one clip are scored on the same
        motion) and the ab to score.
    cuts : iterable of int
        Frames that start a shot; the change into them is not counted.
    min_confidence : float
        Only pixels whose warped lightness matches (:func:`confidence`) at least
        this much count, so occlusions do not count as flicker.
    """
    cuts = set(cuts)
    total, count = 0.0, 0
    for t in range(1, len(ab)):
        if t in cuts:
            continue
        f = flow(lightness[t], lightness[t - 1])
        good = confidence(lightness[t], warp(lightness[t - 1], f)) >= min_confidence
        if not good.any():
            continue
        d = np.linalg.norm(ab[t] - warp(ab[t - 1], f), axis=-1)
        total += float(d[good].sum())
        count += int(good.sum())
    return total / count if count else 0.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
