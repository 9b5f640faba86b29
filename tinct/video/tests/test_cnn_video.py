"""A real CNN method on video: eccv16 with random weights the test makes, batched through the network."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.registry import get_method
from tinct.video import VideoJob, colorize_video, probe
from tinct.video.pipeline import colorize_ab, colorize_batch, compose, frame_lightness
from tinct.video.tests.clips import frames, write_clip


@pytest.fixture(scope="module")
def eccv16_weights(tmp_path_factory):
    import torch

    from tinct.models.loading import build, save_network

    torch.manual_seed(0)
    net = build("eccv16").eval()
    with torch.no_grad():
        net.model8[6].weight.mul_(300.0)  # spread the logits so colours are not all gray
    path = tmp_path_factory.mktemp("w") / "random-eccv16.pt"
    save_network(net, path)
    return path


def test_batched_cnn_frames_equal_per_frame_calls(eccv16_weights):
    """The video path (one network batch, ab kept in Lab, one conversion to RGB) gives the method's own picture."""
    job = VideoJob(get_method("eccv16"), {"weights": str(eccv16_weights), "input_size": 64, "threads": 1})
    prepared = [frame_lightness(f) for f in frames(3)]
    batched = colorize_batch(job, [g for g, _ in prepared], [lt for _, lt in prepared])
    for (gray, lightness), ab in zip(prepared, batched):
        own = job.method(gray, **job.params)  # the registered method on one frame, RGB uint8
        assert np.abs(compose(lightness, ab).astype(int) - own.astype(int)).max() <= 1
        # and the generic path (RGB back to ab) agrees to 8-bit rounding
        assert float(np.abs(colorize_ab(job, gray) - ab).mean()) < 0.5
    assert max(float(np.abs(a).mean()) for a in batched) > 0.5  # the network does colour


def test_cnn_video_end_to_end(eccv16_weights, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames(6))
    job = VideoJob(get_method("eccv16"), {"weights": str(eccv16_weights), "input_size": 64, "threads": 1}, chunk_frames=4)
    summary = colorize_video(clip, tmp_path / "out.mp4", job)
    assert 1 <= summary["method_calls"] <= 6 and probe(tmp_path / "out.mp4").frames == 6
    job.consistency = "none"
    summary = colorize_video(clip, tmp_path / "none.mp4", job)
    assert summary["method_calls"] == 6


def test_hints_on_a_frame_are_carried_along_the_flow(tmp_path):
    """A hint on frame 2 colours that frame and, carried by the flow, the frames after it (tinct's own network)."""
    from tinct.color import rgb2lab
    from tinct.colorize.hints import parse_frame_hints
    from tinct.errors import ParameterError
    from tinct.video.io import read_frames

    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames(10))
    hints = parse_frame_hints([{"frame": 2, "x": 32, "y": 24, "color": "#2040e0", "radius": 6}])
    plain = VideoJob(get_method("auto"), {"threads": 1}, chunk_frames=5)
    steered = VideoJob(get_method("auto"), {"threads": 1}, chunk_frames=5, hints=hints)
    colorize_video(clip, tmp_path / "plain.mp4", plain)
    colorize_video(clip, tmp_path / "steered.mp4", steered)
    want = rgb2lab(np.float32([[[0x20, 0x40, 0xE0]]]) / 255)[0, 0, 1:]

    def ab_at(path, k):
        info = probe(path)
        rgb = [f for i, f in read_frames(info, 0, info.frames) if i == k][0]
        return rgb2lab(rgb[20:29, 28:37].astype(np.float32) / 255)[..., 1:].reshape(-1, 2).mean(0)

    for k in (2, 4):  # the hinted frame, and one carried from it
        before, after = (np.linalg.norm(ab_at(tmp_path / f"{n}.mp4", k) - want) for n in ("plain", "steered"))
        assert after < before - 15, (k, before, after)
    # before the hinted frame its colour is not there yet (the whole clip runs on the hint model, so frame 0 may
    # differ a little from the plain run, but not toward the hint)
    assert np.linalg.norm(ab_at(tmp_path / "steered.mp4", 0) - want) > np.linalg.norm(
        ab_at(tmp_path / "steered.mp4", 2) - want) + 15
    with pytest.raises(ParameterError, match="hints: frame 10 is not in the clip"):
        colorize_video(clip, tmp_path / "x.mp4", VideoJob(get_method("auto"), {}, hints={10: hints[2]}))
    with pytest.raises(ParameterError, match=r"hints\[1\].frame: expected a frame number"):
        parse_frame_hints([{"x": 1, "y": 1, "color": "#fff"}, {"frame": -1, "x": 1, "y": 1, "color": "#fff"}])
