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
