"""Video grading to a reference (one LUT per shot) and LUTs applied to videos: output, audio, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.apps.cli import main
from tinct.errors import ImageWriteError, ParameterError
from tinct.transfer.lut import lut_from_map, write_cube
from tinct.video import VideoError, probe, read_frames
from tinct.video.grade import _ShotSampler, apply_lut_video, grade_video
from tinct.video.io import in_thread
from tinct.video.tests.clips import frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("grade") / "clip.mp4"
    write_clip(path, frames(24, cut_at=12), audio=True)
    return path


@pytest.fixture(scope="module")
def warm():
    """A warm orange reference image."""
    rng = np.random.default_rng(0)
    ref = np.empty((40, 60, 3), np.uint8)
    ref[..., 0] = rng.integers(180, 250, (40, 60))
    ref[..., 1] = rng.integers(90, 150, (40, 60))
    ref[..., 2] = rng.integers(20, 60, (40, 60))
    return ref


def _decode(path):
    return [f for _, f in read_frames(probe(path))]


def _cast(frames_):
    """Mean (R - B) of each frame: > 0 for a warm picture, ~0 for gray."""
    return [float(f[..., 0].astype(int).mean() - f[..., 2].astype(int).mean()) for f in frames_]


@pytest.mark.parametrize("method", ["reinhard", "mkl", "gmm", "sliced"])
def test_grade_gives_the_reference_look_per_shot(tmp_path, clip, warm, method):
    out = tmp_path / "g.mp4"
    s = grade_video(clip, out, method, warm)
    assert s["frames"] == 24 and s["cuts"] == [0, 12] and s["shots"] == 2
    info = probe(out)
    assert info.frames == 24 and info.audio_streams == 1
    casts = _cast(_decode(out))
    assert min(casts) > 20  # every frame took the warm look
    assert max(casts[:12]) - min(casts[:12]) < 4  # and steadily within a shot


def test_grade_errors(tmp_path, clip, warm):
    gray = np.repeat(warm[..., :1], 3, axis=2)
    with pytest.raises(ParameterError, match="reference: is grayscale"):
        grade_video(clip, tmp_path / "x.mp4", "reinhard", gray)
    with pytest.raises(ParameterError, match="cannot grade"):
        grade_video(clip, tmp_path / "x.mp4", "exemplar", warm)
    with pytest.raises(ParameterError, match="masked transfers are not LUT-able"):
        grade_video(clip, tmp_path / "x.mp4", "mkl", warm, params={"target_mask": np.ones((48, 64), bool)})
    with pytest.raises(ImageWriteError, match="input file"):
        grade_video(clip, clip, "reinhard", warm, overwrite=True)
    (tmp_path / "exists.mp4").write_bytes(b"keep")
    with pytest.raises(ImageWriteError, match="exists"):
        grade_video(clip, tmp_path / "exists.mp4", "reinhard", warm)
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep"
    still = tmp_path / "still.png"
    from tinct.io import write_image

    write_image(still, warm)
    with pytest.raises(VideoError):
        grade_video(still, tmp_path / "x.mp4", "reinhard", warm)
    assert not (tmp_path / "x.mp4").exists()


def test_no_video_stream_is_one_line(tmp_path, warm):
    import av

    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        a = out.add_stream("aac", rate=22050)
        a.layout = "mono"
        samples = np.zeros((1, 1024), np.float32)
        for k in range(5):
            f = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            f.sample_rate, f.pts = 22050, k * 1024
            out.mux(a.encode(f))
        out.mux(a.encode(None))
    with pytest.raises(VideoError, match="holds no video stream") as info:
        grade_video(path, tmp_path / "x.mp4", "reinhard", warm)
    assert "\n" not in str(info.value)


def test_apply_lut_video_and_cli(tmp_path, clip):
    lut = lut_from_map(lambda x: np.clip(x * np.float32([1.2, 1.0, 0.6]), 0, 1), 9)
    out = tmp_path / "l.mp4"
    s = apply_lut_video(lut, clip, out)
    assert s["frames"] == 24 and probe(out).audio_streams == 1
    assert min(_cast(_decode(out))) > 10
    cube = write_cube(tmp_path / "warm.cube", lut)
    assert main(["lut", "apply", str(cube), str(clip), "-o", str(tmp_path / "c.mkv")]) == 0
    assert probe(tmp_path / "c.mkv").frames == 24
    assert main(["lut", "apply", str(cube), str(clip), "-o", str(tmp_path / "c.mkv")]) == 2  # exists


def test_cli_video_grading(tmp_path, clip, warm, capsys):
    from tinct.io import write_image

    write_image(tmp_path / "warm.png", warm)
    out = tmp_path / "v.mp4"
    assert main(["video", str(clip), "--method", "reinhard", "--reference", str(tmp_path / "warm.png"),
                 "-o", str(out)]) == 0
    assert probe(out).frames == 24 and min(_cast(_decode(out))) > 20
    write_image(tmp_path / "gray.png", np.repeat(warm[..., :1], 3, axis=2))
    capsys.readouterr()
    assert main(["video", str(clip), "--method", "mkl", "--reference", str(tmp_path / "gray.png"),
                 "-o", str(tmp_path / "w.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "grayscale" in err
    assert main(["video", str(clip), "--method", "reinhard", "-o", str(tmp_path / "w.mp4")]) == 2


def test_shot_sampler_is_bounded_and_spread():
    s = _ShotSampler(4)
    s.reset(10)
    for i in range(10, 1010):
        s.push(i, np.zeros((4, 4, 3), np.uint8))
    assert len(s.kept) <= 8
    kept = [i for i, _ in s.kept]
    assert kept[0] == 10 and kept[-1] > 600
    assert s.mosaic().shape == (16, 4, 3)


def test_in_thread_passes_errors():
    def gen():
        yield 1
        raise VideoError("boom")

    it = in_thread(gen())
    assert next(it) == 1
    with pytest.raises(VideoError, match="boom"):
        next(it)


def test_cli_evaluate_prints_cdc_and_warp_error(tmp_path, clip, capsys):
    import json

    capsys.readouterr()
    assert main(["video", "--evaluate", str(clip), "--flow-from", str(clip), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["videos"]
    assert rows[0]["frames"] == 24 and rows[0]["cdc"] >= 0 and rows[0]["warp_error"] < 0.01
    assert rows[0]["cuts"] == [0, 12]  # the step into the new shot is not flicker
    assert main(["video", "--evaluate", str(tmp_path / "missing.mp4")]) == 2
    assert main(["video", str(clip), str(clip), "-o", str(tmp_path / "x.mp4")]) == 2


def _size_changing_clip(path):
    """Two MPEG-TS segments of different frame sizes, one after the other (TS allows it)."""
    from fractions import Fraction

    import av

    parts = []
    for k, (w, h) in enumerate([(64, 48), (96, 64)]):
        part = path.with_name(f"part{k}.ts")
        with av.open(str(part), "w", format="mpegts") as out:
            vs = out.add_stream("libx264", rate=25)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {"preset": "ultrafast"}  # no B-frames: every frame decodes where the segments meet
            for i in range(6):
                f = av.VideoFrame.from_ndarray(np.full((h, w, 3), 100 + 10 * i, np.uint8), format="rgb24")
                f.pts, f.time_base = 6 * k + i, Fraction(1, 25)
                out.mux(vs.encode(f))
            out.mux(vs.encode(None))
        parts.append(part.read_bytes())
    path.write_bytes(b"".join(parts))


def test_frame_size_change_is_one_line_error_and_leaves_nothing(tmp_path, warm, capsys):
    from tinct.io import write_image

    clip = tmp_path / "sizes.ts"
    _size_changing_clip(clip)
    write_image(tmp_path / "warm.png", warm)
    out = tmp_path / "out"
    out.mkdir()
    capsys.readouterr()
    assert main(["video", str(clip), "--method", "reinhard", "--reference", str(tmp_path / "warm.png"),
                 "-o", str(out / "g.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "size changes mid-stream" in err
    cube = write_cube(tmp_path / "id.cube", lut_from_map(lambda x: x, 5))
    assert main(["lut", "apply", str(cube), str(clip), "-o", str(out / "l.mp4")]) == 2
    assert "size changes mid-stream" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # no output, no temporary file left
