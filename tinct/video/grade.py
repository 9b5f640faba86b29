"""Grade a video to a reference look, or apply a 3-D LUT to it: decode, map colours, encode, keep the audio.

``grade_video(IN, OUT, 'reinhard', reference)``:

1. An analysis pass decodes every frame, finds the scene cuts
   (:class:`~tinct.video.temporal.CutDetector`) and keeps small copies of frames
   spread over each shot (at most ``samples`` per shot; memory stays bounded however
   long the shot).
2. For each shot the transfer is fitted once, on a mosaic of its sampled frames, and
   baked into a 3-D LUT (:func:`tinct.transfer.lut.fit_lut`): within a shot every frame
   gets the same colour map, so the result cannot flicker.
3. A second pass decodes, applies the shot's LUT (one compiled pass per frame) and
   encodes; decoding and encoding run in their own threads. The input's audio is
   copied packet by packet; ``OUT`` is written under a temporary name and renamed.

``apply_lut_video(lut, IN, OUT)`` is step 3 with one LUT for the whole clip
(``tinct lut apply FILE.cube CLIP -o OUT``).

References
----------
.. [1] F. Pitié, A. Kokaram, R. Dahyot, "Automated colour grading using colour distribution
       transfer", CVIU 107(1-2), 2007 (grading by distribution transfer).
.. [2] Adobe Systems, "Cube LUT Specification" 1.0, 2013.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinct.errors import ParameterError
from tinct.video.io import DEFAULT_MAX_FRAME_PIXELS, VideoInfo, check_output, in_thread, probe, read_frames, transcode

GRADE_METHODS = ("reinhard", "mkl", "gmm", "sliced")
SAMPLES_PER_SHOT = 8
SAMPLE_SIDE = 256  # sampled frames are shrunk to at most this wide/high before fitting


def apply_lut_video(lut, src, dst, *, overwrite: bool = False, crf: int = 18, preset: str = "veryfast",
                    max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Apply one 3-D LUT (:class:`tinct.transfer.lut.Lut`) to every frame of ``src``; write ``dst`` with the audio."""
    from tinct.transfer.lut import apply_lut

    t0 = time.perf_counter()
    src, dst = Path(os.fspath(src)).expanduser(), Path(os.fspath(dst)).expanduser()
    info = probe(src, max_pixels=max_pixels)
    check_output(src, dst, overwrite)
    n = transcode(info, dst, lambda i, rgb: apply_lut(lut, rgb), crf=crf, preset=preset, progress=progress)
    seconds = time.perf_counter() - t0
    return {"input": str(src), "output": str(dst), "frames": n, "width": info.width, "height": info.height,
            "audio_streams": info.audio_streams, "seconds": round(seconds, 3), "fps": round(n / seconds, 3)}


def _small(rgb: np.ndarray, side: int = SAMPLE_SIDE) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return rgb.copy()
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


class _ShotSampler:
    """Keeps at most ``2 * n`` evenly spaced small frames of the current shot (the stride doubles as it grows)."""

    def __init__(self, n: int):
        self.n = n
        self.start = 0
        self.stride = 1
        self.kept: list[tuple[int, np.ndarray]] = []

    def reset(self, start: int) -> None:
        self.start, self.stride, self.kept = start, 1, []

    def push(self, i: int, rgb: np.ndarray) -> None:
        if (i - self.start) % self.stride:
            return
        self.kept.append((i, _small(rgb)))
        if len(self.kept) > 2 * self.n:
            self.stride *= 2
            self.kept = [(j, f) for j, f in self.kept if (j - self.start) % self.stride == 0]

    def mosaic(self) -> np.ndarray:
        """Up to ``n`` of the kept frames, evenly chosen, stacked into one image."""
        pick = np.unique(np.linspace(0, len(self.kept) - 1, min(self.n, len(self.kept))).round().astype(int))
        return np.concatenate([self.kept[k][1] for k in pick], axis=0)


def shot_luts(info: VideoInfo, method: str, reference: np.ndarray, params: dict, *, size: int = 33,
              cut_threshold: float | None = None, samples: int = SAMPLES_PER_SHOT) -> tuple[list[int], list]:
    """The analysis pass: scene cuts, and one LUT per shot fitted on its sampled frames.

    Returns ``(cuts, luts)``: the first frame of each shot and its :class:`~tinct.transfer.lut.Lut`.
    """
    from tinct.color import rgb2gray
    from tinct.transfer.lut import fit_lut
    from tinct.video.temporal import DEFAULT_CUT_THRESHOLD, CutDetector

    det = CutDetector(DEFAULT_CUT_THRESHOLD if cut_threshold is None else cut_threshold)
    sampler = _ShotSampler(samples)
    cuts: list[int] = []
    luts: list = []

    def finish():
        luts.append(fit_lut(method, sampler.mosaic(), reference, size, **params))

    step = max(1, max(info.width, info.height) // 256)
    for i, rgb in in_thread(read_frames(info)):
        # the detector looks at a 128-bin-ish subsample anyway: a strided view is enough
        small = rgb[::step, ::step]
        lightness = rgb2gray(small).astype(np.float32) * np.float32(100.0)
        if det.push(lightness):
            if cuts:
                finish()
            cuts.append(i)
            sampler.reset(i)
        sampler.push(i, rgb)
    finish()
    return cuts, luts


def grade_video(src, dst, method: str, reference, *, params: dict | None = None, size: int = 33,
                cut_threshold: float | None = None, samples: int = SAMPLES_PER_SHOT, overwrite: bool = False,
                crf: int = 18, preset: str = "veryfast", max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Grade ``src`` to the colours of ``reference`` with a pointwise transfer, once per shot, as a LUT.

    Parameters
    ----------
    src, dst : str or Path
        Input video; output (.mp4, .mkv, .mov, .m4v), written atomically with the input's audio.
    method : {'reinhard', 'mkl', 'gmm', 'sliced'}
    reference : ndarray
        Colour reference image (a gray one is refused).
    params : dict, optional
        The method's parameters (masks and ``feather`` are not LUT-able).
    size : int
        LUT nodes per axis.
    cut_threshold : float, optional
        Scene-cut threshold (:class:`~tinct.video.temporal.CutDetector`).
    samples : int
        Frames per shot the transfer is fitted on.

    Returns
    -------
    dict
        ``input``, ``output``, ``frames``, ``shots``, ``cuts``, ``seconds``, ``fps``, ``fit_seconds``.
    """
    from tinct.pixels import is_grayscale
    from tinct.transfer.lut import apply_lut, check_lutable

    t0 = time.perf_counter()
    if method not in GRADE_METHODS:
        raise ParameterError(f"method: {method!r} cannot grade a video; use one of {', '.join(GRADE_METHODS)}")
    if reference is None:
        raise ParameterError(f"reference: grading with {method} needs a colour reference image (--reference)")
    if is_grayscale(reference):
        raise ParameterError(f"reference: is grayscale, it has no colours for {method} to transfer")
    if not (isinstance(samples, int) and samples >= 1):
        raise ParameterError(f"samples: must be an integer >= 1, got {samples!r}")
    params = dict(params or {})
    src, dst = Path(os.fspath(src)).expanduser(), Path(os.fspath(dst)).expanduser()
    info = probe(src, max_pixels=max_pixels)
    check_output(src, dst, overwrite)
    params = check_lutable(method, params)  # bad parameters fail now, not after the analysis pass
    cuts, luts = shot_luts(info, method, np.asarray(reference), params, size=size, cut_threshold=cut_threshold,
                           samples=samples)
    t_fit = time.perf_counter() - t0
    starts = np.asarray(cuts)

    def frame_map(i, rgb):
        return apply_lut(luts[int(np.searchsorted(starts, i, side="right")) - 1], rgb)

    n = transcode(info, dst, frame_map, crf=crf, preset=preset, progress=progress)
    seconds = time.perf_counter() - t0
    return {"input": str(src), "output": str(dst), "method": method, "frames": n, "width": info.width,
            "height": info.height, "shots": len(cuts), "cuts": cuts, "audio_streams": info.audio_streams,
            "lut_size": size, "fit_seconds": round(t_fit, 3), "seconds": round(seconds, 3),
            "fps": round(n / seconds, 3) if seconds > 0 else None}
