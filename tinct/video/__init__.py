"""Video colorization: decode, colorize in chunks, keep colours steady over time, encode; resumable.

See :mod:`tinct.video.pipeline` for the run and :mod:`tinct.video.temporal` for the
temporal-consistency algorithms. ``tinct video IN -o OUT`` is the command line.
"""

from tinct.video.io import VIDEO_SUFFIXES, VideoError, VideoInfo, probe, read_frames
from tinct.video.pipeline import CONSISTENCY, VideoJob, colorize_video
from tinct.video.temporal import flicker, psnr, scene_cuts

__all__ = [
    "CONSISTENCY",
    "VIDEO_SUFFIXES",
    "VideoError",
    "VideoInfo",
    "VideoJob",
    "colorize_video",
    "flicker",
    "probe",
    "psnr",
    "read_frames",
    "scene_cuts",
]
