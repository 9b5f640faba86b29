"""Video colorization: quality against the colour truth, flicker, and speed, for each consistency mode.

For each clip of ``../shared/data/video`` that has a colour truth, the gray clip
is colorized by ``tinct.video.colorize_video`` with ``--consistency`` none (plain
per-frame colorization, the baseline), flow and keyframes, side by side in one
run, and the table reports:

* PSNR (dB): mean over frames of the RGB PSNR of the output against the truth frame;
* flicker: mean ab change between consecutive frames after optical-flow warping
  (:func:`tinct.video.temporal.flicker`, flow on the truth's L, well-tracked pixels,
  scene cuts left out); the truth's own value is the floor a perfect result shows;
* calls: how many frames the method colorized; fps: frames per second end to end
  (decode, colorize, consistency, encode).

Then frames per second on this CPU at 480p (854x480) and 1080p (1920x1080), on a
clip upscaled from bikes.mp4.

Method: ``--method auto`` when tinct's weights are installed; otherwise the
default is ``exemplar`` with the colour truth's first frame as the reference
(the "user gives one colour frame" workflow).

Usage::

    python benchmarks/video.py                         # everything
    python benchmarks/video.py --clips carphone --sizes 480 --frames 24
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
    return VideoJob(m, params, reference=reference if m.reference != "none" else None, consistency=mode)


def score(out_frames, truth_frames, cuts):
    from tinct.color import rgb2lab
    from tinct.video import flicker, psnr

    n = min(len(out_frames), len(truth_frames))
    p = float(np.mean([psnr(o, t) for o, t in zip(out_frames[:n], truth_frames[:n])]))
    truth_lab = [rgb2lab(t) for t in truth_frames[:n]]
    lightness = [x[..., 0] for x in truth_lab]
    ab_out = [rgb2lab(o)[..., 1:] for o in out_frames[:n]]
    return p, flicker(lightness, ab_out, cuts), flicker(lightness, [x[..., 1:] for x in truth_lab], cuts)


def write_scaled(src, dst, size, frames):
    import cv2

    from tinct.video.io import encode_chunk, probe

    info = probe(src)
    scaled = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in decode(src, frames)]
    encode_chunk(scaled, dst, info.fps, crf=16)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default=None, help="colorize method (default: auto if installed, else exemplar)")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--sizes", nargs="*", type=int, default=[480, 1080], help="heights for the speed table")
    ap.add_argument("--frames", type=int, default=24, help="frames of the upscaled speed clips")
    args = ap.parse_args(argv)

    from tinct.video import probe

    method = args.method
    if method is None:  # tinct's own model when its weights are shipped, else exemplar colorization
        from tinct.models.weights import default_entry

        method = "auto" if default_entry() is not None else "exemplar"
    print(f"method: {method}  (reference for exemplar methods: the colour truth's first frame)")
    print(f"cpu: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="tinct-video-bench-"))
    rows = []
    from tinct.video.pipeline import frame_lightness
    from tinct.video.temporal import scene_cuts

    for name in args.clips:
        gray_name, truth_name = CLIPS[name]
        src, truth_path = SHARED / "data" / "video" / gray_name, SHARED / "data" / "video" / truth_name
        truth = decode(truth_path)
        cuts = scene_cuts([frame_lightness(f)[1] for f in truth])
        reference = truth[0]
        info = probe(src)
        for mode in MODES:
            out = tmp / f"{name}-{mode}.mp4"
            t0 = time.perf_counter()
            s = colorize(src, out, make_job(method, {}, reference, mode))
            dt = time.perf_counter() - t0
            p, fl, fl_truth = score(decode(out), truth, cuts)
            rows.append((name, f"{info.width}x{info.height}", info.frames, mode, p, fl, fl_truth, s["method_calls"],
                         info.frames / dt))
            print(f"  done {name} {mode}: {dt:.1f} s", file=sys.stderr, flush=True)
    print()
    print("| clip | size | frames | consistency | PSNR dB | flicker | truth flicker | method calls | fps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]} | {r[8]:.2f} |")

    speed = []
    bikes = SHARED / "data" / "video" / "bikes.mp4"
    ref_frame = decode(bikes, 1)[0]
    for height in args.sizes:
        width = {480: 854, 720: 1280, 1080: 1920}.get(height, round(height * 16 / 9 / 2) * 2)
        clip = tmp / f"bikes-{height}p.mp4"
        write_scaled(bikes, clip, (width, height), args.frames)
        import cv2

        ref = cv2.resize(ref_frame, (width, height), interpolation=cv2.INTER_CUBIC)
        for mode in MODES:
            out = tmp / f"speed-{height}-{mode}.mp4"
            t0 = time.perf_counter()
            colorize(clip, out, make_job(method, {}, ref, mode))
            speed.append((f"{width}x{height}", mode, args.frames / (time.perf_counter() - t0)))
            print(f"  done {height}p {mode}", file=sys.stderr, flush=True)
    if speed:
        print()
        print(f"| size | consistency | frames/s ({args.frames} frames, end to end) |")
        print("|---|---|---|")
        for s in speed:
            print(f"| {s[0]} | {s[1]} | {s[2]:.2f} |")
    return 0


def colorize(src, out, job):
    from tinct.video import colorize_video

    return colorize_video(src, out, job, overwrite=True)


if __name__ == "__main__":
    sys.exit(main())
