"""Video: colorization quality, flicker (CDC, warp error) and speed per consistency mode; grading speed.

For each clip of ``../shared/data/video`` that has a colour truth (its first ``--frames`` frames), the
gray clip is colorized by ``tinct.video.colorize_video`` with ``--consistency`` none (plain per-frame
colorization, the baseline), flow and keyframes, side by side in one run, and the table reports:

* PSNR (dB): mean over frames of the RGB PSNR of the output against the truth frame;
* CDC and warp error (:mod:`tinct.metrics.temporal`; flow measured on the gray input clip, scene
  cuts left out); the truth's own values are what a perfect result shows;
* calls: how many frames the method colorized; fps: frames per second end to end (decode,
  colorize, consistency, encode), and CPU seconds per frame (all threads of this process: the
  machine may be shared, CPU time is the steadier number).

Each clip is scored at its own size and at 854x480 (``--sizes``; the gray clip and the truth are
scaled alike), with two reference rows: the gray input's own CDC and warp error (a result keeps
the input's L, so no result's warp error falls much below it) and the colour truth's. Then the
speed of grading (``tinct video --method reinhard|mkl``: one LUT per shot) at 480p.

Method: ``--method auto`` when tinct's weights are installed; otherwise ``exemplar`` with the colour
truth's first frame as the reference.

Usage::

    python benchmarks/video.py                         # everything
    python benchmarks/video.py --clips bikes --frames 48 --sizes 0 480
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))
CLIPS = {  # name: (input clip, colour truth)
    "bikes": ("bikes_gray.mp4", "bikes.mp4"),
    "carphone": ("carphone_pristine.mp4", "carphone_pristine.mp4"),
}
MODES = ("none", "flow", "keyframes")


def decode(path, limit=None):
    from tinct.video import probe, read_frames

    info = probe(path)
    return [f for _, f in read_frames(info, 0, limit)]


def make_job(method_name, params, reference, mode):
    from tinct.registry import get_method
    from tinct.video import VideoJob

    m = get_method(method_name, "colorize")
    takes = any(i.name == "reference" for i in m.inputs)
    return VideoJob(m, params, reference=reference if takes else None, consistency=mode)


def score(out_frames, truth_frames, guide_frames, cuts):
    from tinct.metrics.temporal import cdc, warp_error
    from tinct.video import psnr

    n = min(len(out_frames), len(truth_frames))
    p = float(np.mean([psnr(o, t) for o, t in zip(out_frames[:n], truth_frames[:n])]))
    return p, cdc(out_frames[:n]), warp_error(out_frames[:n], guide_frames[:n], cuts=cuts)


def write_scaled(src, dst, size, frames):
    from tinct.video.io import encode_chunk, probe

    info = probe(src)
    scaled = [_resize(f, size) for f in decode(src, frames)]
    encode_chunk(scaled, dst, info.fps, crf=16)


def timed(fn, *a, **k):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default=None, help="colorize method (default: auto if installed, else exemplar)")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--frames", type=int, default=96, help="frames of each clip")
    ap.add_argument("--sizes", nargs="*", type=int, default=[0, 480],
                    help="frame heights to score and time each clip at (0: its own size; 480: 854x480)")
    ap.add_argument("--grade", nargs="*", default=["reinhard", "mkl"], help="grading methods timed at 480p")
    args = ap.parse_args(argv)

    from tinct.metrics.temporal import cdc, shot_starts, warp_error
    from tinct.video import probe

    method = args.method
    if method is None:  # tinct's own model when its weights are shipped, else exemplar colorization
        from tinct.models.weights import default_entry

        method = "auto" if default_entry() is not None else "exemplar"
    print(f"method: {method}  (reference for exemplar methods: the colour truth's first frame)")
    print(f"cpu: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (a shared machine: see CPU s/frame)")
    tmp = Path(tempfile.mkdtemp(prefix="tinct-video-bench-"))
    rows = []
    for name in args.clips:
        gray_name, truth_name = CLIPS[name]
        full, truth_path = SHARED / "data" / "video" / gray_name, SHARED / "data" / "video" / truth_name
        info = probe(full)
        for height in args.sizes:
            size = (info.width, info.height) if not height else (_width(height), height)
            label = f"{size[0]}x{size[1]}"
            src = tmp / f"{name}-{label}.mp4"
            write_scaled(full, src, size, args.frames)
            truth = [_resize(f, size) for f in decode(truth_path, args.frames)]  # as the gray clip was scaled
            guide = decode(src)
            cuts = shot_starts(guide)
            reference = truth[0]
            from tinct.video.pipeline import _warm_up

            _warm_up(make_job(method, {}, reference, "none")).join()  # imports, model and compiled code loaded first
            # the input's own warp error: every result keeps the input's L, so none can score below about this
            rows.append((name, label, len(guide), "gray input", None, cdc(guide), warp_error(guide, guide, cuts=cuts),
                         None, None, None))
            rows.append((name, label, len(guide), "truth", None, cdc(truth), warp_error(truth, guide, cuts=cuts),
                         None, None, None))
            for mode in MODES:
                out = tmp / f"{name}-{label}-{mode}.mp4"
                s, dt, cpu = timed(colorize, src, out, make_job(method, {}, reference, mode))
                p, c, w = score(decode(out), truth, guide, cuts)
                rows.append((name, label, len(guide), mode, p, c, w, s["method_calls"], len(guide) / dt,
                             cpu / len(guide)))
                print(f"  done {name} {label} {mode}: {dt:.1f} s", file=sys.stderr, flush=True)
    print()
    print("| clip | size | frames | consistency | PSNR dB | CDC | warp error | method calls | fps | CPU s/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = [("-" if v is None else f"{v:{fmt}}") for v, fmt in zip(r[4:], (".2f", ".5f", ".6f", "d", ".2f", ".3f"))]
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | " + " | ".join(f) + " |")

    speed = []
    bikes = SHARED / "data" / "video" / "bikes_gray.mp4"
    ref_frame = decode(SHARED / "data" / "video" / "bikes.mp4", 1)[0]
    if 480 in args.sizes and args.grade:
        clip = tmp / "bikes-grade-480p.mp4"
        write_scaled(bikes, clip, (854, 480), args.frames)
        for g in args.grade:
            from tinct.video.grade import grade_video

            out = tmp / f"grade-480-{g}.mp4"
            _, dt, cpu = timed(grade_video, clip, out, g, ref_frame, overwrite=True)
            speed.append(("854x480", f"grade {g} (LUT per shot)", args.frames / dt, cpu / args.frames))
            print(f"  done 480p grade {g}", file=sys.stderr, flush=True)
    if speed:
        print()
        print(f"| size | run | frames/s ({args.frames} frames, end to end, in process) | CPU s/frame |")
        print("|---|---|---|---|")
        for s_ in speed:
            print(f"| {s_[0]} | {s_[1]} | {s_[2]:.2f} | {s_[3]:.3f} |")
    return 0


def _width(height: int) -> int:
    return {480: 854, 720: 1280, 1080: 1920}.get(height, round(height * 16 / 9 / 2) * 2)


def _resize(frame, size):
    import cv2

    return frame if frame.shape[1::-1] == tuple(size) else cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)


def colorize(src, out, job):
    from tinct.video import colorize_video

    return colorize_video(src, out, job, overwrite=True)


if __name__ == "__main__":
    sys.exit(main())
