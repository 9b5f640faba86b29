"""Colorize a whole video with any registered colorize method: chunked, temporally consistent, resumable.

The run, for ``colorize_video(IN, OUT, job)``:

1. :func:`~tinct.video.io.probe` indexes the frames of ``IN``.
2. Unless ``consistency='none'``, an analysis pass decodes every frame and
   finds scene cuts (:class:`~tinct.video.temporal.CutDetector`); these are
   stored in the cache manifest so a resumed run does not redo them.
3. Frames are processed in chunks (``chunk_frames``, aligned to key frames in
   ``'keyframes'`` mode). For each chunk the method colorizes the frames it
   needs (every frame, or only the key frames), ab is made temporally
   consistent, each frame is rebuilt from the input's own L and the new ab, and
   the chunk is encoded to ``OUT.parts/chunk_NNNNN.mp4``. The manifest
   (``OUT.parts/manifest.json``, replaced atomically) records finished chunks.
4. The chunks are joined without re-encoding, the input's audio is copied
   packet by packet, the result is written under a temporary name and renamed
   to ``OUT``; then ``OUT.parts`` is removed.

An interrupted run, started again with the same settings, reuses every finished
chunk; a run with other settings refuses to mix them (``restart=True`` discards
the cache). ``OUT`` is never half-written: until the final rename it is the
old file or absent.

Consistency modes
-----------------
``'none'``
    Every frame colorized on its own.
``'flow'``
    ab is carried from frame to frame along the optical flow; a frame is
    colorized only where the flow fails -- when fewer than ``min_tracked`` of its
    pixels are well tracked (occlusions, new objects, fast motion), at a scene
    cut, and at least every ``keyframe_interval`` frames -- and its fresh colours
    are blended with the carried ones by the recursive filter of
    :class:`~tinct.video.temporal.FlowSmoother` (fresh colour where the flow is
    wrong, the carried colour where it is right; where it is right, the change is eased in over the
    next frames rather than shown at once). The flow is measured on L only,
    so the frames to colorize are known before any is colorized, and they go
    through the network together (``WINDOW`` frames are planned at a time).
``'keyframes'``
    Only key frames (each shot's first and last frame, and every
    ``keyframe_interval`` frames) are colorized; the frames between get the key
    frames' colours carried along the flow forwards and backwards, with
    exemplar matching where the flow loses track
    (:func:`~tinct.video.temporal.propagate`). About ``keyframe_interval``
    times fewer method calls.

References
----------
.. [1] W.-S. Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018.
.. [2] B. Zhang et al., "Deep Exemplar-based Video Colorization", CVPR 2019 (key-frame/exemplar propagation).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinct.errors import ImageWriteError, ParameterError
from tinct.registry import Method
from tinct.video.io import (
    DEFAULT_MAX_FRAME_PIXELS,
    OUTPUT_SUFFIXES,
    Encoder,
    VideoInfo,
    in_thread,
    join_chunks,
    probe,
    read_frames,
)
from tinct.video.temporal import DEFAULT_CUT_THRESHOLD, CutDetector, propagate

CONSISTENCY = ("none", "flow", "keyframes")
MANIFEST = "manifest.json"
CACHE_VERSION = 4  # 2: flow mode colorizes only where the flow fails; 3: its state holds the pending colour change;
# 4: chunks encoded without x264's mb-tree (io.X264_PARAMS), so that re-encoded chunks are reproducible
EASE = 0.3  # 'flow': share of the pending colour change a frame takes where the flow is right (see _chunk_flow)


@dataclass
class VideoJob:
    """How to colorize a video: the method, its inputs and the temporal-consistency settings.

    Parameters
    ----------
    method : Method
        A registered colorize method (:func:`tinct.registry.get_method`).
    params : dict
        Validated method parameters.
    reference : ndarray, optional
        Colour reference image for exemplar methods; passed to every colorized frame.
    reference_path : str, optional
        Its file, so that a change of reference is seen by the resume check.
    consistency : {'none', 'flow', 'keyframes'}
    strength : float in [0, 1)
        Flow smoothing weight of the warped past (``'flow'``).
    keyframe_interval : int >= 1
        Frames between key frames (``'keyframes'``); in ``'flow'`` mode, the longest run of
        frames carried by the flow alone before one is colorized again.
    min_tracked : float in (0, 1]
        ``'flow'``: a frame is colorized when fewer than this fraction of its pixels are
        well tracked from the previous frame (1 colorizes every frame).
    cut_threshold : float in (0, 1]
        Histogram distance above which a frame starts a new shot.
    chunk_frames : int >= 1
        Frames per cached chunk.
    crf : int in [0, 51]; preset : str
        x264 quality and speed.
    post : str, optional
        ``--post`` spec applied to each colorized frame before consistency.
    hints : dict, optional
        Colour hints by frame number (0-based): ``{frame: (N, 6) array}`` as
        :func:`tinct.colorize.hints.parse_hints` gives it. Each such frame is colorized with its hints
        (it becomes a key frame) and its colours are carried along the flow like any key frame's.
        Methods that take hints only (``auto``, ``siggraph17``).
    """

    method: Method
    params: dict
    reference: np.ndarray | None = None
    reference_path: str | None = None
    consistency: str = "flow"
    strength: float = 0.8
    keyframe_interval: int = 12
    min_tracked: float = 0.9
    cut_threshold: float = DEFAULT_CUT_THRESHOLD
    chunk_frames: int = 48
    crf: int = 18
    preset: str = "veryfast"
    post: str | None = None
    hints: dict | None = None

    def check(self) -> None:
        if self.method.kind != "colorize":
            raise ParameterError(f"method: {self.method.name!r} is a {self.method.kind} method; video needs a colorize method")
        if self.consistency not in CONSISTENCY:
            raise ParameterError(f"consistency: expected one of {', '.join(CONSISTENCY)}, got {self.consistency!r}")
        if not 0.0 <= self.strength < 1.0:
            raise ParameterError(f"strength: must be in [0, 1), got {self.strength}")
        if not (isinstance(self.keyframe_interval, int) and self.keyframe_interval >= 1):
            raise ParameterError(f"keyframe_interval: must be an integer >= 1, got {self.keyframe_interval!r}")
        if not 0.0 < self.min_tracked <= 1.0:
            raise ParameterError(f"min_tracked: must be in (0, 1], got {self.min_tracked}")
        if not 0.0 < self.cut_threshold <= 1.0:
            raise ParameterError(f"cut_threshold: must be in (0, 1], got {self.cut_threshold}")
        if not (isinstance(self.chunk_frames, int) and self.chunk_frames >= 1):
            raise ParameterError(f"chunk_frames: must be an integer >= 1, got {self.chunk_frames!r}")
        if not 0 <= self.crf <= 51:
            raise ParameterError(f"crf: must be in 0..51, got {self.crf}")
        if self.preset not in ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"):
            raise ParameterError(f"preset: not an x264 preset: {self.preset!r}")
        if self.hints and self.method.need("hints") == "none":
            raise ParameterError(f"hints: method {self.method.name!r} does not use colour hints")


# --------------------------------------------------------------------------- per-frame work
_L_OF_GRAY: list = []


def frame_lightness(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gray frame handed to the method (uint8 Rec.601) and its CIELAB L."""
    from tinct.color import rgb2gray, rgb2lightness

    gray = np.clip(rgb2gray(rgb) * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)
    if not _L_OF_GRAY:  # L of each gray level, computed by rgb2lightness itself: the lookup is exact
        _L_OF_GRAY.append(rgb2lightness(np.arange(256, dtype=np.uint8)[None, :])[0])
    return gray, _L_OF_GRAY[0][gray]


def colorize_ab(job: VideoJob, gray: np.ndarray, hints=None) -> np.ndarray:
    """Run the job's method on one gray frame and return the ab it predicts (float32 (H, W, 2)).

    The method and post-processing run through :func:`tinct.pipeline.run_array`, the step every
    front end shares.
    """
    from tinct.color import rgb2lab
    from tinct.pipeline import Job, run_array

    inputs: dict[str, Any] = {}
    if job.reference is not None:
        inputs["reference"] = job.reference
    if hints is not None:
        inputs["hints"] = hints
    result = np.asarray(run_array(Job(job.method, job.params, inputs, job.post), gray))
    if result.ndim != 3 or result.shape[:2] != gray.shape or result.shape[2] < 3:
        raise ParameterError(f"method: {job.method.name!r} returned shape {result.shape} for a {gray.shape} frame")
    return rgb2lab(result[..., :3])[..., 1:]


def compose(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """RGB uint8 from the input's L and the new ab (chroma reduced where out of gamut).

    ``lab2rgb(lab, gamut='chroma', dtype=np.uint8)`` in one compiled pass: every output frame goes
    through here, and the NumPy path's full-frame temporaries cost several times more than the pass.
    """
    from tinct.video.compose import compose_u8

    return compose_u8(lightness, ab)


# --------------------------------------------------------------------------- plan
def key_frames(n: int, cuts: list[int], interval: int) -> list[int]:
    """Key frames: each shot's first and last frame and every ``interval`` frames in between."""
    starts = sorted(set(cuts) | {0})
    keys: set[int] = set()
    for a, b in zip(starts, starts[1:] + [n]):
        keys.update(range(a, b, interval))
        keys.add(b - 1)
    return sorted(k for k in keys if 0 <= k < n)


def plan_chunks(n: int, chunk: int, keys: list[int] | None) -> list[tuple[int, int]]:
    """Chunk frame ranges; with key frames, every chunk starts on one."""
    if not keys:
        return [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    bounds = [0]
    for k in keys[1:]:
        if k - bounds[-1] >= chunk:
            bounds.append(k)
    return list(zip(bounds, bounds[1:] + [n]))


# --------------------------------------------------------------------------- cache
def fingerprint(info: VideoInfo, job: VideoJob) -> str:
    """What a cached chunk depends on: input file, method, parameters, reference and every option."""
    from tinct import __version__

    ref = None
    if job.reference is not None:
        ref = hashlib.sha256(np.ascontiguousarray(job.reference).tobytes()).hexdigest()
    desc = {
        "cache": CACHE_VERSION, "tinct": __version__, "input": str(info.path.resolve()), "size": info.size,
        "mtime_ns": info.mtime_ns, "frames": info.frames, "method": job.method.name,
        "params": sorted((k, repr(v)) for k, v in job.params.items()), "reference": ref,
        "consistency": job.consistency, "strength": job.strength, "keyframe_interval": job.keyframe_interval,
        "min_tracked": job.min_tracked,
        "cut_threshold": job.cut_threshold, "chunk_frames": job.chunk_frames, "crf": job.crf, "preset": job.preset,
        "post": job.post,
        "hints": sorted((int(k), np.asarray(v).tolist()) for k, v in (job.hints or {}).items()),
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Cache:
    """``OUT.parts/``: finished chunks and the manifest that lists them (written atomically)."""

    def __init__(self, folder: Path, key: str, restart: bool = False):
        self.folder = folder
        manifest = folder / MANIFEST
        if folder.exists() and not folder.is_dir():
            raise ImageWriteError(f"{folder}: exists and is not a folder; it is needed for the chunk cache")
        data = None
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text())
            except (OSError, ValueError):
                data = None
        elif folder.is_dir() and any(folder.iterdir()):
            raise ImageWriteError(f"{folder}: exists, is not empty and is not a tinct chunk cache; move it away")
        if data is not None and data.get("key") != key:
            if not restart:
                raise ParameterError(f"{folder}: holds an unfinished run with other settings (input, method or "
                                     "options changed); rerun with --restart to discard it")
            shutil.rmtree(folder)
            data = None
        elif data is not None and restart:
            shutil.rmtree(folder)
            data = None
        folder.mkdir(parents=True, exist_ok=True)
        self.data = data or {"key": key, "done": {}}
        self.key = key

    def save(self) -> None:
        _write_json(self.folder / MANIFEST, self.data)

    def chunk_path(self, c: int) -> Path:
        return self.folder / f"chunk_{c:05d}.mp4"

    def state_path(self, c: int) -> Path:
        return self.folder / f"state_{c:05d}.npz"

    def is_done(self, c: int, needs_state: bool) -> bool:
        entry = self.data["done"].get(str(c))
        p = self.chunk_path(c)
        if entry is None or not p.is_file() or p.stat().st_size != entry.get("bytes"):
            return False
        return not needs_state or self.state_path(c).is_file()

    def mark_done(self, c: int, frames: int) -> None:
        self.data["done"][str(c)] = {"frames": frames, "bytes": self.chunk_path(c).stat().st_size}
        self.save()


# --------------------------------------------------------------------------- chunk processing
def _save_state(path: Path, lightness: np.ndarray, ab: np.ndarray, since: int = 0,
                pending: np.ndarray | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    extra = {} if pending is None else {"pending": pending.astype(np.float32)}
    np.savez(tmp, L=lightness.astype(np.float32), ab=ab.astype(np.float32), since=np.int64(since), **extra)
    os.replace(tmp, path)


def _load_state(path: Path):
    with np.load(path) as z:
        return z["L"], z["ab"], int(z["since"]) if "since" in z else 0, z["pending"] if "pending" in z else None


BATCH_FRAMES = 8  # frames colorized per method batch (CNN methods run them through the network together)
WINDOW = 16  # 'flow' mode plans this many frames at a time (flow first, then one network batch)


def _cnn_setup(job: VideoJob):
    """``(arch, params)`` as the registered ``eccv16`` / ``siggraph17`` / ``auto`` functions would call the CNN; else None."""
    name = job.method.name
    if job.reference is not None or name not in ("eccv16", "siggraph17", "auto"):
        return None
    p = dict(job.params)
    if not p.get("threads"):
        # Half the CPUs for the network, the rest for decoding, encoding and the flow, which run beside it: a
        # full-width OpenMP team spin-waits on busy cores (on 2 loaded cores 2 threads cost 2-20x the CPU of one).
        from tinct._threads import available_cpus

        p["threads"] = max(1, available_cpus() // 2)
    arch: str | None = name
    if name in ("siggraph17", "auto"):
        p["backend"] = "torch" if p.get("backend", "auto") == "auto" else p["backend"]
    if name == "siggraph17":
        p["head"] = "regression" if p.pop("head", "regression") == "regression" else "logits"
    if name == "auto":
        if p.get("weights") is None:
            from tinct.models import weights as registry

            entry = registry.default_entry(guided=bool(job.hints))  # one model for every frame: no flicker
            if entry is None:
                return None  # the per-frame call raises the clear MissingWeightsError
            p["weights"], arch = str(registry.find(entry.name)), entry.arch
        else:
            arch = None
    return arch, p


def _cnn_ab(job: VideoJob):
    """A function giving the full-resolution ab (float32 (H, W, 2)) of a list of frames' L, for the CNN methods.

    It runs the steps of :func:`tinct.colorize.cnn.colorize_cnn` -- network input from L, the
    network on a batch, calibrated decoding, ab upsampled guided by L -- and stops before the
    conversion to RGB: a video frame is rebuilt from its own L and the (temporally filtered) ab
    once, in :func:`compose`, instead of going Lab -> RGB -> Lab -> RGB. The model is loaded once
    per process. Returns None for other methods, or when post-processing is asked (it works on RGB).
    """
    setup = _cnn_setup(job)
    if setup is None or job.post:
        return None
    arch, p = setup
    from tinct.colorize.cnn import ab_predictor

    return ab_predictor(arch, **p)


def colorize_batch(job: VideoJob, grays: list[np.ndarray], lightness: list[np.ndarray] | None = None,
                   hints: list | None = None) -> list[np.ndarray]:
    """ab (float32 (H, W, 2)) for each gray frame: one network batch for CNN methods, else one call per frame.

    ``lightness``: the frames' CIELAB L (:func:`frame_lightness`), when the caller has it; ``hints``: each
    frame's colour hints or None.
    """
    hints = hints or [None] * len(grays)
    run = _cnn_ab(job)
    if run is None:
        return [colorize_ab(job, g, h) for g, h in zip(grays, hints)]
    if lightness is None:
        lightness = [frame_lightness(np.repeat(g[..., None], 3, axis=2))[1] for g in grays]
    return run(lightness, hints=hints)


def frame_hints(job: VideoJob, index: int):
    """The colour hints given for frame ``index``, or None."""
    return (job.hints or {}).get(index)


def _batches(iterator, size):
    buf = []
    for item in iterator:
        buf.append(item)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


def _plan_window(job, window, cuts, state):
    """Lightness, flow and the colorize decision for each frame of a window (no colorization yet).

    Returns a list of ``(gray, L, flow or None, confidence or None, colorize?)`` and the updated
    ``(L, frames since the last colorization)``.
    """
    from tinct.video.temporal import confidence, flow, warp

    smoothing = job.consistency == "flow" and job.strength > 0.0
    l_prev, since = state
    plan = []
    for i, rgb in window:
        gray, lightness = frame_lightness(rgb)
        f = c = None
        key = True
        if smoothing and l_prev is not None and i not in cuts and l_prev.shape == lightness.shape:
            f = flow(lightness, l_prev)
            c = confidence(lightness, warp(l_prev, f))
            tracked = float(np.count_nonzero(c >= 0.5)) / c.size
            key = since + 1 >= job.keyframe_interval or job.min_tracked >= 1.0 or tracked < job.min_tracked
        key = key or frame_hints(job, i) is not None  # a frame the user gave colours to is always colorized
        since = 0 if key else since + 1
        plan.append((gray, lightness, f, c, key))
        l_prev = lightness
    return plan, (l_prev, since)


def _chunk_flow(job, info, start, stop, cuts, holder, counter, tick=None):
    """Yield the output frames ``start..stop-1`` (modes none/flow); ``holder[0]`` is the state in and out.

    The state is ``(L, ab, frames since the last colorization, pending change)`` of the last frame, or None.

    A colorized frame's colours are blended with the carried ones by the recursive filter
    (:class:`~tinct.video.temporal.FlowSmoother`); where the flow is right, the change this makes is
    not shown at once -- a step every ``keyframe_interval`` frames is flicker, and the warp error
    counts it squared -- but eased in: each frame takes ``EASE`` of what is left (``pending``, carried
    along the flow). Where the flow is wrong the fresh colour is shown at once.
    """
    from tinct.video.temporal import warp

    state = holder[0]
    l_prev, ab_prev, since, pending = state if state is not None else (None, None, 0, None)
    ease = np.float32(EASE)
    strength = np.float32(job.strength)
    for window in _batches(in_thread(read_frames(info, start, stop)), WINDOW):
        plan, _ = _plan_window(job, window, cuts, (l_prev, since))
        todo = [k for k, item in enumerate(plan) if item[4]]
        fresh: dict[int, np.ndarray] = {}
        for batch in _batches(todo, BATCH_FRAMES):
            abs_ = colorize_batch(job, [plan[k][0] for k in batch], [plan[k][1] for k in batch],
                                  [frame_hints(job, window[k][0]) for k in batch])
            fresh.update(zip(batch, abs_))
        counter[0] += len(todo)
        for k, (_, lightness, f, c, key) in enumerate(plan):
            if f is None or frame_hints(job, window[k][0]) is not None:
                # first frame, cut, no smoothing, or a frame with the user's colours: its own colours stand
                ab = fresh[k]
                since, pending = 0, None
            else:
                carried = warp(ab_prev, f)
                if pending is not None:
                    pending = warp(pending, f)
                if key:  # the recursive filter: fresh colour where the flow is wrong, the carried one where right
                    ab = fresh[k]
                    base = carried if pending is None else carried + pending  # where the colours were going
                    ab += (c * strength)[..., None] * (base - ab)
                    pending = ab - carried
                    held = (c * (np.float32(1.0) - ease))[..., None]  # kept back where the flow is right
                    ab -= held * pending
                    pending *= held
                    since = 0
                else:
                    ab = carried
                    since += 1
                    if pending is not None:
                        ab += ease * pending
                        # what is left after this many frames is under 2 % of the change: let it go
                        pending = None if (1.0 - EASE) ** since < 0.02 else pending * (np.float32(1.0) - ease)
            l_prev, ab_prev = lightness, ab
            holder[0] = (l_prev, ab_prev, since, pending)
            yield compose(lightness, ab)
            if tick is not None:
                tick()


def _chunk_keyframes(job, info, start, stop, cuts, keys, counter, tick=None):
    """Yield the output frames ``start..stop-1`` from the key frames in ``[start, stop]`` (mode keyframes).

    Frames are read lazily and only one key-frame interval is held in memory.
    """
    last = min(stop, info.frames - 1)  # the next chunk's first key frame is needed to propagate backwards
    frames = in_thread(read_frames(info, start, last + 1))
    buf: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def upto(i):
        while i not in buf:
            j, rgb = next(frames)
            buf[j] = frame_lightness(rgb)

    in_chunk = [k for k in keys if start <= k <= last]
    key_ab: dict[int, np.ndarray] = {}

    def key(k):
        if k not in key_ab:
            upto(k)
            key_ab[k] = colorize_batch(job, [buf[k][0]], [buf[k][1]], [frame_hints(job, k)])[0]
            counter[0] += 1
        return key_ab[k]

    for k0, k1 in zip(in_chunk, in_chunk[1:] + [None]):
        if k1 is None:
            if k0 < stop:  # the video's last frame
                ab = key(k0)
                yield compose(buf[k0][1], ab)
                if tick is not None:
                    tick()
            continue
        upto(k1)
        key(k0)
        crosses_cut = k1 in cuts
        span = [buf[i][1] for i in range(k0, k1 if crosses_cut else k1 + 1)]
        abs_ = propagate(span, key(k0), None if crosses_cut else key(k1))
        for j, ab in enumerate(abs_[: k1 - k0]):
            yield compose(buf[k0 + j][1], ab)
            if tick is not None:
                tick()
        for i in [i for i in buf if i < k1]:
            del buf[i]
        key_ab.pop(k0, None)


def colorize_video(src, dst, job: VideoJob, *, overwrite: bool = False, restart: bool = False,
                   keep_parts: bool = False, progress: Callable[[int, int], None] | None = None,
                   max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS) -> dict:
    """Colorize the video ``src`` into ``dst``; see :mod:`tinct.video.pipeline`.

    Parameters
    ----------
    src, dst : str or Path
        Input video; output file (.mp4, .mkv, .mov or .m4v).
    job : VideoJob
    overwrite : bool
        Replace an existing ``dst`` (only at the very end, atomically).
    restart : bool
        Discard a chunk cache left by an earlier run.
    keep_parts : bool
        Keep ``dst.parts`` after success.
    progress : callable, optional
        ``progress(frames_done, frames_total)`` after each frame (finished
        chunks from an earlier run are reported first, in one call).
    max_pixels : int, optional
        Refuse frames larger than this.

    Returns
    -------
    dict
        Summary: input, output, frames, chunks, chunks reused, method calls, seconds, fps, cuts.
    """
    from tinct.io.files import check_new_file

    job.check()
    start_time = time.perf_counter()
    src = Path(os.fspath(src)).expanduser()
    dst = Path(os.fspath(dst)).expanduser()
    if dst.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ParameterError(f"output: {dst.name}: use one of {', '.join(sorted(OUTPUT_SUFFIXES))}")
    info = probe(src, max_pixels=max_pixels)
    check_new_file(dst, overwrite=overwrite, source=src)

    cache = Cache(dst.with_name(dst.name + ".parts"), fingerprint(info, job), restart=restart)
    warm = _warm_up(job)  # the model loads (torch's import is most of it) while the analysis pass decodes
    data = cache.data
    if job.consistency != "none" and "cuts" not in data:
        det = CutDetector(job.cut_threshold)
        step = max(1, min(info.width, info.height) // 256)  # the detector samples ~128 x 128 pixels anyway
        data["cuts"] = [i for i, rgb in in_thread(read_frames(info)) if det.push(frame_lightness(rgb[::step, ::step])[1])]
        cache.save()
    cuts = set(data.get("cuts", [0]))
    keys = key_frames(info.frames, sorted(cuts), job.keyframe_interval) if job.consistency == "keyframes" else None
    if keys is not None and job.hints:  # frames the user gave colours to are key frames
        keys = sorted(set(keys) | {k for k in job.hints if 0 <= k < info.frames})
    for k in job.hints or {}:
        if not 0 <= k < info.frames:
            raise ParameterError(f"hints: frame {k} is not in the clip (frames 0..{info.frames - 1})")
    chunks = plan_chunks(info.frames, job.chunk_frames, keys)
    needs_state = job.consistency == "flow"

    reused = [c for c in range(len(chunks)) if cache.is_done(c, needs_state)]
    done_frames = sum(chunks[c][1] - chunks[c][0] for c in reused)
    if progress is not None:
        progress(done_frames, info.frames)
    counter = [0]
    done = [done_frames]

    def tick():
        done[0] += 1
        if progress is not None:
            progress(done[0], info.frames)

    warm.join()
    for c, (a, b) in enumerate(chunks):
        if c in reused:
            continue
        holder: list = [None]
        if job.consistency == "keyframes":
            frames = _chunk_keyframes(job, info, a, b, cuts, keys, counter, tick)
        else:
            if needs_state and c > 0 and a not in cuts:
                prev = cache.state_path(c - 1)
                holder[0] = _load_state(prev) if prev.is_file() else None
                if holder[0] is None:  # the previous chunk's state is gone: warm up on its last frames
                    holder[0] = _warm_state(job, info, a, cuts, counter)
            frames = _chunk_flow(job, info, a, b, cuts, holder, counter, tick)
        enc = Encoder(cache.chunk_path(c), info.fps, crf=job.crf, preset=job.preset)
        try:
            for frame in frames:
                enc.put(frame)
        except BaseException:
            enc.abort()
            raise
        written = enc.close()
        if written != b - a:
            raise ParameterError(f"{src}: chunk {c} produced {written} frames for {b - a}")
        if needs_state:
            _save_state(cache.state_path(c), *holder[0])
        cache.mark_done(c, b - a)

    join_chunks([cache.chunk_path(c) for c in range(len(chunks))], dst,
                audio_from=src if info.audio_streams else None)
    if not keep_parts:
        shutil.rmtree(cache.folder, ignore_errors=True)
    seconds = time.perf_counter() - start_time
    return {
        "input": str(src), "output": str(dst), "method": job.method.name, "consistency": job.consistency,
        "frames": info.frames, "width": info.width, "height": info.height, "chunks": len(chunks),
        "chunks_reused": len(reused), "method_calls": counter[0], "cuts": sorted(cuts), "audio_streams": info.audio_streams,
        "seconds": round(seconds, 3), "fps": round((info.frames - sum(chunks[c][1] - chunks[c][0] for c in reused))
                                                  / seconds, 3) if seconds > 0 else None,
    }


def _warm_up(job: VideoJob):
    """A started thread that loads the job's network and the compiled :func:`compose`; join it before use.

    Errors are left for the real calls to raise (a missing model is reported where it is needed).
    """
    import threading

    def load():
        try:
            _cnn_ab(job)
            compose(np.zeros((1, 1), np.float32), np.zeros((1, 1, 2), np.float32))
        except Exception:  # noqa: BLE001 - raised again, with its own message, by the call that needs it
            pass

    thread = threading.Thread(target=load, daemon=True, name="tinct-video-warm-up")
    thread.start()
    return thread


def _warm_state(job, info, start, cuts, counter, frames: int = 8):
    """Rebuild the smoothing state before ``start`` from the last ``frames`` frames of its shot."""
    shot_start = max([c for c in cuts if c < start] or [0])
    a = max(shot_start, start - frames)
    holder: list = [None]
    for _ in _chunk_flow(job, info, a, start, cuts, holder, counter):
        pass
    return holder[0]
