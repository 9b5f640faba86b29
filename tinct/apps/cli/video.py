"""``tinct video IN -o OUT``: colorize a black-and-white video, with steady colours, keeping its audio.

Frames are colorized by any colorize method, in chunks cached in ``OUT.parts/``:
an interrupted run started again with the same command continues where it stopped.

With a transfer method (``--method reinhard|mkl|gmm|sliced --reference REF``) the video is graded
to the reference's colours instead: the transfer is fitted once per shot (scene cuts detected) on
sampled frames and applied as a 3-D LUT, so colours are steady by construction.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tinct.apps.cli._common import add_command, add_method_options, emit, pixel_count


def add_parser(sub) -> None:
    p = add_command(sub, "video", "colorize a black-and-white video (temporal consistency, audio kept, resumable)",
                    __doc__, "tinct video old.mp4 -o old_colour.mp4",
                    "tinct video old.mp4 -o out.mkv --consistency keyframes --method eccv16",
                    "tinct video clip.mp4 -o out.mp4 --reference frame_in_colour.jpg",
                    "tinct video clip.mp4 -o graded.mp4 --method mkl --reference look.jpg")
    p.add_argument("input", metavar="IN", nargs="+",
                   help="video file (any format FFmpeg reads); several with --evaluate")
    p.add_argument("-o", "--output", default=None,
                   help="output video (.mp4, .mkv, .mov, .m4v); default IN's name + .METHOD.mp4 in the current folder")
    p.add_argument("-r", "--reference", default=None, help="colour reference image (exemplar methods)")
    p.add_argument("--consistency", default="flow", choices=("none", "flow", "keyframes"),
                   help="none: every frame on its own; flow (default): optical-flow smoothing of colour that "
                   "restarts at scene cuts; keyframes: colorize key frames, carry colours along the flow between them")
    p.add_argument("--strength", type=float, default=0.8, help="flow smoothing strength in [0, 1) (default 0.8)")
    p.add_argument("--keyframe-interval", type=int, default=12,
                   help="frames between key frames (default 12); flow: most frames carried before one is colorized")
    p.add_argument("--min-tracked", type=float, default=0.9,
                   help="flow: colorize a frame when fewer than this fraction of its pixels are tracked from the "
                   "previous one (default 0.9; 1 colorizes every frame)")
    p.add_argument("--cut-threshold", type=float, default=0.35,
                   help="lightness-histogram distance in (0, 1] that counts as a scene cut (default 0.35)")
    p.add_argument("--chunk-frames", type=int, default=48, help="frames per cached chunk (default 48)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51 (default 18)")
    p.add_argument("--preset", default="veryfast", help="x264 speed preset (default veryfast)")
    p.add_argument("--restart", action="store_true", help="discard chunks cached by an earlier, different run")
    p.add_argument("--keep-parts", action="store_true", help="keep OUT.parts/ (the chunk cache) after success")
    p.add_argument("--evaluate", action="store_true",
                   help="score the videos IN for flicker instead: CDC and warp error (lower is steadier)")
    p.add_argument("--flow-from", default=None, metavar="VIDEO",
                   help="--evaluate: measure motion on this clip (the input the results were made from)")
    p.add_argument("--lut-size", type=int, default=33,
                   help="grading (--method reinhard|mkl|gmm|sliced): LUT nodes per axis (default 33)")
    p.add_argument("--hints", default=None, metavar="FILE.json",
                   help='colour hints on chosen frames: a JSON list of {"frame": 0, "x": 120, "y": 45, '
                        '"color": "#1f3a93"}; each such frame becomes a key frame and its colours are carried along '
                        "the flow (auto, siggraph17)")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    add_method_options(p, "colorize")
    p.set_defaults(func=run)


class _Bar:
    """tqdm bar in frames (rate = frames per second, with time left), created on the first report."""

    def __init__(self, enabled: bool, desc: str, force: bool = False):
        self.enabled, self.desc, self.force, self.bar = enabled, desc, force, None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc=self.desc, unit="frame", file=sys.stderr, dynamic_ncols=True,
                            disable=False if self.force or os.environ.get("TINCT_PROGRESS") else None)
            return
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args) -> int:
    from tinct.registry import require_extra

    require_extra("video", "tinct video")
    from tinct.errors import ParameterError
    from tinct.video.grade import GRADE_METHODS

    if args.evaluate:
        return _evaluate(args)
    if len(args.input) != 1:
        raise ParameterError(f"IN: give one video to colorize (several only with --evaluate), got {len(args.input)}")
    args.input = args.input[0]
    if args.method in GRADE_METHODS:
        return _grade(args)
    from tinct.colorize.hints import parse_frame_hints
    from tinct.pipeline import make_job
    from tinct.video import VideoJob, colorize_video

    pjob = make_job(args.method, "colorize", inputs={"reference": args.reference}, params=args.param, post=args.post,
                    max_pixels=pixel_count(args.max_pixels) if args.max_pixels else None)
    method, params, reference = pjob.method, pjob.params, pjob.inputs.get("reference")
    src = Path(args.input)
    dst = Path(args.output) if args.output else Path.cwd() / f"{src.stem}.{method.name}.mp4"
    job = VideoJob(method, params, reference=reference, reference_path=args.reference, consistency=args.consistency,
                   strength=args.strength, keyframe_interval=args.keyframe_interval, min_tracked=args.min_tracked,
                   cut_threshold=args.cut_threshold,
                   chunk_frames=args.chunk_frames, crf=args.crf, preset=args.preset, post=args.post,
                   hints=parse_frame_hints(args.hints, "--hints") if args.hints else None)
    bar = _Bar(args.progress or sys.stderr.isatty(), method.name, force=args.progress)
    kwargs = {"max_pixels": pjob.max_pixels}
    try:
        summary = colorize_video(src, dst, job, overwrite=args.overwrite, restart=args.restart,
                                 keep_parts=args.keep_parts, progress=bar, **kwargs)
    finally:
        bar.close()
    line = (f"wrote {summary['output']}  ({summary['frames']} frames, {summary['seconds']:.1f} s, "
            f"{summary['fps']} frames/s, {summary['chunks_reused']}/{summary['chunks']} chunks reused)")
    emit(args, summary, [line])
    return 0


def _grade(args) -> int:
    """``tinct video CLIP --method reinhard|mkl|gmm|sliced --reference REF``: one LUT per shot."""
    from tinct.pipeline import make_job
    from tinct.video.grade import grade_video

    pjob = make_job(args.method, "transfer", inputs={"reference": args.reference}, params=args.param,
                    max_pixels=pixel_count(args.max_pixels) if args.max_pixels else None)
    src = Path(args.input)
    dst = Path(args.output) if args.output else Path.cwd() / f"{src.stem}.{args.method}.mp4"
    bar = _Bar(args.progress or sys.stderr.isatty(), args.method, force=args.progress)
    try:
        summary = grade_video(src, dst, args.method, pjob.inputs["reference"], params=pjob.params,
                              size=args.lut_size, cut_threshold=args.cut_threshold, overwrite=args.overwrite,
                              crf=args.crf, preset=args.preset, progress=bar)
    finally:
        bar.close()
    emit(args, summary, [f"wrote {summary['output']}  ({summary['frames']} frames, {summary['shots']} shots, "
                         f"{summary['seconds']:.1f} s, {summary['fps']} frames/s)"])
    return 0


def _evaluate(args) -> int:
    """``tinct video --evaluate CLIP...``: CDC and warp error of each clip (:mod:`tinct.metrics.temporal`)."""
    from tinct.metrics.temporal import video_scores

    rows = []
    for clip in args.input:
        scores = video_scores(clip, guide=args.flow_from)
        rows.append({"video": clip, **scores})
    lines = ["| video | frames | CDC | warp error |", "|---|---|---|---|"]
    lines += [f"| {r['video']} | {r['frames']} | {r['cdc']:.5f} | {r['warp_error']:.5f} |" for r in rows]
    lines.append("(CDC: JS divergence of RGB histograms of frames t and t+1, 2, 4; warp error: Lai et al. 2018, "
                 "OpenCV DIS flow" + (f" on {args.flow_from}" if args.flow_from else "") + "; lower is steadier)")
    emit(args, {"videos": rows}, lines)
    return 0
