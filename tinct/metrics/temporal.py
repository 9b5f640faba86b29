"""Temporal consistency of a video (flicker): CDC and warp error, the two measures video colorization papers report.

- :func:`cdc` -- colour distribution consistency (Liu et al. [1]_, as in the TCVC and ColorMNet
  evaluation code): the Jensen-Shannon divergence between the per-channel 256-bin RGB histograms of
  frames t and t + d, averaged over the three channels and over t, for d = 1, 2 and 4, then averaged
  over d. It needs no motion estimate; 0 means every frame has the same colour distribution.
- :func:`warp_error` -- Lai et al. [2]_: the mean squared difference (RGB in [0, 1], summed over
  channels, averaged over the non-occluded pixels, then over frames) between frame t and frame t-1
  warped onto it by optical flow. Occluded pixels are left out by a forward-backward check [3]_:
  a pixel counts when ``|f_b + f_f(x + f_b)|^2 <= 0.01 (|f_b|^2 + |f_f(x + f_b)|^2) + 0.5`` and
  its flow stays inside the frame.

Optical flow is OpenCV's DIS [4]_ (``DISOPTICAL_FLOW_PRESET_MEDIUM``) on the Rec.601 luma; Lai et al.
used FlowNet2, so absolute values differ from the paper's tables, comparisons between results of the
same clip do not. Pass ``guide`` (the input clip) so that every result of one clip is scored on the
same motion, measured on the input rather than on the result.

Lower is steadier for both. Both accept frames as an iterable of (H, W, 3) uint8 arrays (streamed:
memory does not grow with the clip's length) or a video file.

References
----------
.. [1] Y. Liu, H. Zhao, K. C. K. Chan, X. Wang, C. C. Loy, Y. Qiao, C. Dong, "Temporally Consistent
       Video Colorization with Deep Feature Propagation and Self-regularization Learning",
       arXiv:2110.04562, 2021 (CDC).
.. [2] W.-S. Lai, J.-B. Huang, O. Wang, E. Shechtman, E. Yumer, M.-H. Yang, "Learning Blind Video
       Temporal Consistency", ECCV 2018 (warping error).
.. [3] M. Ruder, A. Dosovitskiy, T. Brox, "Artistic style transfer for videos", GCPR 2016
       (forward-backward occlusion check).
.. [4] T. Kroeger, R. Timofte, D. Dai, L. Van Gool, "Fast Optical Flow using Dense Inverse Search",
       ECCV 2016.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from tinct.errors import ParameterError

DILATIONS = (1, 2, 4)
_DIS: dict = {}
_GRIDS: dict = {}


def _frames(source) -> Iterator[np.ndarray]:
    if isinstance(source, (str, os.PathLike)):
        from tinct.video.io import probe, read_frames

        return (f for _, f in read_frames(probe(source)))
    return iter(source)


def _check(frame, name: str, shape=None) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] < 3:
        raise ParameterError(f"{name}: frames must be (H, W, 3) RGB, got shape {a.shape}")
    if a.dtype != np.uint8:
        if a.dtype.kind != "f":
            raise ParameterError(f"{name}: frames must be uint8 or float in [0, 1], got {a.dtype}")
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if shape is not None and a.shape[:2] != shape:
        raise ParameterError(f"{name}: frame size changes from {shape[1]}x{shape[0]} to {a.shape[1]}x{a.shape[0]}")
    return a[..., :3]


def histograms(frame: np.ndarray) -> np.ndarray:
    """(3, 256) per-channel RGB histograms of a uint8 frame, each summing to 1."""
    import cv2

    a = np.ascontiguousarray(_check(frame, "frame"))
    h = np.stack([cv2.calcHist([a], [c], None, [256], [0, 256])[:, 0] for c in range(3)]).astype(np.float64)
    return h / h.sum(axis=1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log) between distributions along the last axis."""
    m = 0.5 * (p + q)

    def kl(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(a > 0, a * np.log(a / np.where(b > 0, b, 1.0)), 0.0)
        return t.sum(axis=-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def cdc(frames, dilations: Iterable[int] = DILATIONS, *, per_dilation: bool = False):
    """Colour distribution consistency of a video (lower is steadier).

    Parameters
    ----------
    frames : iterable of (H, W, 3) uint8 arrays, or a video file
    dilations : iterable of int
        Frame distances d; the paper's are 1, 2 and 4.
    per_dilation : bool
        Also return the value for each d.

    Returns
    -------
    float, or (float, dict) with ``per_dilation``
    """
    dilations = tuple(int(d) for d in dilations)
    if not dilations or min(dilations) < 1:
        raise ParameterError(f"dilations: must be integers >= 1, got {dilations}")
    hists = []
    shape = None
    for f in _frames(frames):
        f = _check(f, "frames", shape)
        shape = f.shape[:2]
        hists.append(histograms(f))  # 6 KB a frame: a long clip stays small
    if len(hists) < 2:
        raise ParameterError(f"frames: CDC needs at least 2 frames, got {len(hists)}")
    h = np.stack(hists)
    parts = {}
    for d in dilations:
        if d < len(h):
            parts[d] = float(js_divergence(h[:-d], h[d:]).mean())
    value = float(np.mean(list(parts.values())))
    return (value, parts) if per_dilation else value


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def optical_flow(to_gray: np.ndarray, from_gray: np.ndarray) -> np.ndarray:
    """Flow ``f`` with ``to[y, x] ~ from[y + f[..., 1], x + f[..., 0]]`` (OpenCV DIS, medium preset)."""
    import cv2

    dis = _DIS.get("medium")
    if dis is None:
        dis = _DIS["medium"] = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    if min(to_gray.shape) < 16:  # too small for DIS's patches: taken as still
        return np.zeros((*to_gray.shape, 2), np.float32)
    return dis.calc(to_gray, from_gray, None)


def _grid(h: int, w: int):
    g = _GRIDS.get((h, w))
    if g is None:
        _GRIDS.clear()
        g = _GRIDS[(h, w)] = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return g


def _remap(image: np.ndarray, f: np.ndarray) -> np.ndarray:
    import cv2

    gx, gy = _grid(*f.shape[:2])
    return cv2.remap(image, gx + f[..., 0], gy + f[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def non_occluded(f_back: np.ndarray, f_fwd: np.ndarray) -> np.ndarray:
    """Pixels of frame t whose backward flow (t -> t-1) is confirmed by the forward flow (t-1 -> t).

    Forward-backward check of Ruder et al. [3]_ (the one Lai et al. use), and the flow must land
    inside frame t-1.
    """
    h, w = f_back.shape[:2]
    fw = _remap(f_fwd, f_back)
    s = f_back + fw
    ok = (s**2).sum(-1) <= 0.01 * ((f_back**2).sum(-1) + (fw**2).sum(-1)) + 0.5
    gx, gy = _grid(h, w)
    x, y = gx + f_back[..., 0], gy + f_back[..., 1]
    return ok & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def warp_error(frames, guide=None, *, cuts: Iterable[int] = (), per_frame: bool = False):
    """Warping error of Lai et al. (lower is steadier); see the module docstring.

    Parameters
    ----------
    frames : iterable of (H, W, 3) uint8 arrays, or a video file
        The video to score.
    guide : same, optional
        Frames the flow and occlusions are measured on (the input clip); default ``frames``.
    cuts : iterable of int
        Frames that start a shot: the step into them is not counted.
    per_frame : bool
        Also return the list of per-frame errors (frame 1 onwards, cuts left out).

    Returns
    -------
    float, or (float, list) with ``per_frame``
    """
    cuts = set(int(c) for c in cuts)
    it = _frames(frames)
    git = _frames(guide) if guide is not None else None
    errors = []
    prev = prev_g = None
    shape = None
    for t, f in enumerate(it):
        f = _check(f, "frames", shape)
        shape = f.shape[:2]
        if git is not None:
            try:
                g = _check(next(git), "guide")
            except StopIteration:
                raise ParameterError(f"guide: has fewer frames than the video ({t})") from None
            if g.shape[:2] != shape:
                raise ParameterError(f"guide: frames are {g.shape[1]}x{g.shape[0]}, the video's {shape[1]}x{shape[0]}")
        else:
            g = f
        gray = _gray(g)
        cur = f.astype(np.float32) * np.float32(1.0 / 255.0)
        if prev is not None and t not in cuts:
            f_back = optical_flow(gray, prev_g)
            f_fwd = optical_flow(prev_g, gray)
            mask = non_occluded(f_back, f_fwd)
            n = int(mask.sum())
            if n:
                d = cur - _remap(prev, f_back)
                errors.append(float((d * d).sum(-1)[mask].sum() / n))
        prev, prev_g = cur, gray
    if shape is None:
        raise ParameterError("frames: the video holds no frames")
    value = float(np.mean(errors)) if errors else 0.0
    return (value, errors) if per_frame else value


def shot_starts(frames) -> list[int]:
    """Frames that start a shot (:class:`tinct.video.temporal.CutDetector` on the luma), 0 included."""
    from tinct.video.temporal import CutDetector

    det = CutDetector()
    return [t for t, f in enumerate(_frames(frames)) if det.push(_gray(_check(f, "frames")) * np.float32(100 / 255))]


def video_scores(frames, guide=None, *, cuts: Iterable[int] | str = "auto") -> dict:
    """``{'cdc', 'cdc_d1', 'cdc_d2', 'cdc_d4', 'warp_error', 'frames', 'cuts'}`` for a video file or frames.

    ``cuts='auto'`` finds the scene cuts on ``guide`` (or ``frames``) and leaves the steps into
    them out of the warp error: a cut is not flicker. CDC is computed over every frame, as published.
    """
    if not isinstance(frames, (str, os.PathLike, list, tuple)):
        frames = list(frames)  # both measures read it
    if isinstance(frames, (list, tuple)):
        n = len(frames)
    else:
        from tinct.video.io import probe

        n = probe(frames).frames
    if isinstance(cuts, str):
        if cuts != "auto":
            raise ParameterError(f"cuts: expected 'auto' or frame numbers, got {cuts!r}")
        cuts = shot_starts(guide if guide is not None else frames)
    value, parts = cdc(frames, per_dilation=True)
    return {"cdc": value, **{f"cdc_d{d}": v for d, v in parts.items()},
            "warp_error": warp_error(frames, guide, cuts=cuts), "frames": n, "cuts": sorted(int(c) for c in cuts)}
