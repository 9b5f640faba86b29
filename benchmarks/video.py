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

Then the speed at 480p (854x480) on a clip upscaled from bikes_gray.mp4, for every mode, and the
speed of grading (``tinct video --method reinhard|mkl``: one LUT per shot) at 480p.

Method: ``--method auto`` when tinct's weights are installed; otherwise ``exemplar`` with the colour
truth's first frame as the reference.

Usage::

    python benchmarks/video.py                         # everything
    python benchmarks/video.py --clips bikes --frames 48 --sizes 480
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
    import cv2

    from tinct.video.io import encode_chunk, probe

    info = probe(src)
    scaled = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in decode(src, frames)]
    encode_chunk(scaled, dst, info.fps, crf=16)


def timed(fn, *a, **k):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default=None, help="colorize method (default: auto if installed, else exemplar)")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--frames", type=int, default=96, help="frames of each clip (and of the speed clips)")
    ap.add_argument("--sizes", nargs="*", type=int, default=[480], help="heights for the speed table")
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
        src = tmp / f"{name}.mp4"
        info = probe(full)
        write_scaled(full, src, (info.width, info.height), args.frames)
        truth = decode(truth_path, args.frames)
        guide = decode(src)
        cuts = shot_starts(guide)
        reference = truth[0]
        make_job(method, {}, reference, "none").method(guide[0])  # imports and model load before any timing
        rows.append((name, f"{info.width}x{info.height}", len(guide), "truth", None, cdc(truth),
                     warp_error(truth, guide, cuts=cuts), None, None, None))
        for mode in MODES:
            out = tmp / f"{name}-{mode}.mp4"
            s, dt, cpu = timed(colorize, src, out, make_job(method, {}, reference, mode))
            p, c, w = score(decode(out), truth, guide, cuts)
            rows.append((name, f"{info.width}x{info.height}", len(guide), mode, p, c, w, s["method_calls"],
                         len(guide) / dt, cpu / len(guide)))
            print(f"  done {name} {mode}: {dt:.1f} s", file=sys.stderr, flush=True)
    print()
    print("| clip | size | frames | consistency | PSNR dB | CDC | warp error | method calls | fps | CPU s/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = [("-" if v is None else f"{v:{fmt}}") for v, fmt in zip(r[4:], (".2f", ".5f", ".5f", "d", ".2f", ".3f"))]
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | " + " | ".join(f) + " |")

    import cv2

    speed = []
    bikes = SHARED / "data" / "video" / "bikes_gray.mp4"
    ref_frame = decode(SHARED / "data" / "video" / "bikes.mp4", 1)[0]
    for height in args.sizes:
        width = {480: 854, 720: 1280, 1080: 1920}.get(height, round(height * 16 / 9 / 2) * 2)
        clip = tmp / f"bikes-{height}p.mp4"
        write_scaled(bikes, clip, (width, height), args.frames)
        ref = cv2.resize(ref_frame, (width, height), interpolation=cv2.INTER_CUBIC)
        for mode in MODES:
            out = tmp / f"speed-{height}-{mode}.mp4"
            _, dt, cpu = timed(colorize, clip, out, make_job(method, {}, ref, mode))
            speed.append((f"{width}x{height}", f"colorize {method}, {mode}", args.frames / dt, cpu / args.frames))
            print(f"  done {height}p {mode}", file=sys.stderr, flush=True)
        for g in args.grade:
            from tinct.video.grade import grade_video

            out = tmp / f"grade-{height}-{g}.mp4"
            _, dt, cpu = timed(grade_video, clip, out, g, ref_frame, overwrite=True)
            speed.append((f"{width}x{height}", f"grade {g} (LUT per shot)", args.frames / dt, cpu / args.frames))
            print(f"  done {height}p grade {g}", file=sys.stderr, flush=True)
    if speed:
        print()
        print(f"| size | run | frames/s ({args.frames} frames, end to end, in process) | CPU s/frame |")
        print("|---|---|---|---|")
        for s_ in speed:
            print(f"| {s_[0]} | {s_[1]} | {s_[2]:.2f} | {s_[3]:.3f} |")
    return 0


def colorize(src, out, job):
    from tinct.video import colorize_video

    return colorize_video(src, out, job, overwrite=True)


if __name__ == "__main__":
    sys.exit(main())
