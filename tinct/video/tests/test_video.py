"""tinct video: reading/writing, temporal consistency, scene cuts, resume, audio, CLI and errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import tinct.video.tests.fake_methods as fake
from tinct.apps.cli import main
from tinct.errors import ImageWriteError, ParameterError
from tinct.registry import get_method
from tinct.video import VideoError, VideoJob, colorize_video, flicker, probe, read_frames
from tinct.video.pipeline import frame_lightness, key_frames, plan_chunks
from tinct.video.temporal import FlowSmoother, propagate, scene_cuts
from tinct.video.tests.clips import frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """24 frames 64x48 of a panning texture, a scene cut at frame 12, an AAC audio track."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_clip(path, frames(24, cut_at=12), audio=True)
    return path


@pytest.fixture()
def tint():
    fake.CALLS[0] = 0
    return get_method("test-tint")


def _decode(path):
    info = probe(path)
    return [f for _, f in read_frames(info)]


def _lab(rgb_list):
    from tinct.color import rgb2lab

    labs = [rgb2lab(f) for f in rgb_list]
    return [x[..., 0] for x in labs], [x[..., 1:] for x in labs]


def _audio_only(path):
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=8000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 8000, 0, Fraction(1, 8000)
        out.mux(a.encode(frame))
        out.mux(a.encode(None))


def test_probe_and_frame_exact_ranges(clip):
    info = probe(clip)
    assert (info.frames, info.width, info.height, info.audio_streams) == (24, 64, 48, 1)
    full = _decode(clip)
    part = list(read_frames(info, 13, 17))
    assert [i for i, _ in part] == [13, 14, 15, 16]
    for i, f in part:
        np.testing.assert_array_equal(f, full[i])


def test_bad_inputs_are_one_line_errors(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="notes.mp4"):
        probe(text)
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    from tinct.io import write_image

    write_image(tmp_path / "photo.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="still image"):
        probe(tmp_path / "photo.png")
    silent = tmp_path / "audio_only.mp4"
    _audio_only(silent)
    with pytest.raises(VideoError, match="no video stream"):
        probe(silent)
    good = tmp_path / "good.mp4"
    write_clip(good, frames(12))
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoError) as exc:
        info = probe(cut)
        list(read_frames(info))
    assert "\n" not in str(exc.value) and "truncated.mp4" in str(exc.value)


def test_colorize_keeps_lightness_frame_count_and_audio(clip, tmp_path, tint):
    import av

    out = tmp_path / "out.mp4"
    summary = colorize_video(clip, out, VideoJob(tint, {}, consistency="none", chunk_frames=8))
    assert summary["frames"] == 24 and summary["chunks"] == 3 and summary["method_calls"] == 24
    result = _decode(out)
    assert len(result) == 24 and result[0].shape == (48, 64, 3)
    l_in = [frame_lightness(f)[1] for f in _decode(clip)]
    l_out, ab_out = _lab(result)
    assert np.mean([np.abs(a - b).mean() for a, b in zip(l_in, l_out)]) < 1.5  # L kept (up to H.264 4:2:0)
    assert np.mean([np.linalg.norm(ab, axis=-1).mean() for ab in ab_out]) > 5  # it is coloured
    with av.open(str(out)) as c, av.open(str(clip)) as src:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
        n_out = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
        n_in = sum(1 for p in src.demux(src.streams.audio[0]) if p.size)
        assert n_out == n_in  # copied packet for packet
    assert not (tmp_path / "out.mp4.parts").exists()


def test_scene_cut_detected():
    lightness = [frame_lightness(f)[1] for f in frames(24, cut_at=12)]
    assert scene_cuts(lightness) == [0, 12]
    assert scene_cuts([frame_lightness(f)[1] for f in frames(24)]) == [0]


def test_flow_smoother_reduces_flicker_and_restarts_at_cut():
    fr = frames(16, cut_at=10)
    lightness = [frame_lightness(f)[1] for f in fr]
    rng = np.random.default_rng(0)
    base = np.stack([0.5 * (lightness[0] - 50), np.full_like(lightness[0], 10.0)], axis=-1)
    noisy = [base + rng.uniform(-10, 10, 2).astype(np.float32) for _ in fr]
    sm = FlowSmoother(0.8)
    smooth = [sm.push(lt, ab, new_shot=i in (0, 10)) for i, (lt, ab) in enumerate(zip(lightness, noisy))]
    np.testing.assert_array_equal(smooth[10], noisy[10])  # nothing carried across the cut
    assert not np.array_equal(smooth[9], noisy[9])
    assert flicker(lightness, smooth, cuts=[10]) < 0.6 * flicker(lightness, noisy, cuts=[10])


def test_propagate_carries_key_colours():
    lightness = [frame_lightness(f)[1] for f in frames(9)]
    ab0 = np.zeros(lightness[0].shape + (2,), np.float32)
    ab0[..., 0] = 20.0
    ab8 = ab0.copy()
    ab8[..., 0] = 30.0
    out = propagate(lightness, ab0, ab8)
    assert len(out) == 9
    np.testing.assert_array_equal(out[0], ab0)
    np.testing.assert_array_equal(out[8], ab8)
    mid = float(np.median(out[4][..., 0]))
    assert 22 < mid < 28  # blended between the two key frames
    assert float(np.median(out[1][..., 0])) < float(np.median(out[7][..., 0]))
    assert np.abs(out[4][..., 1]).max() < 1.0


@pytest.mark.parametrize("width", [64, 640])  # 640: propagation runs at a reduced size and is scaled up
def test_propagate_moves_colours_with_the_picture(width):
    """Colours tied to the texture follow it as it pans: frame t gets the key frames' ab where its pixels came from."""
    lightness = [frame_lightness(f)[1] for f in frames(9, h=96, w=width)]
    ab = [np.dstack([0.8 * (lt - 50), np.full_like(lt, 5.0)]) for lt in lightness]  # the texture's own colours
    out = propagate(lightness, ab[0], ab[8])
    inner = (slice(8, -8), slice(8, -8))  # away from the borders the pan uncovers
    for t in (2, 4, 6):
        err = float(np.abs(out[t][inner][..., 0] - ab[t][inner][..., 0]).mean())
        still = float(np.abs(ab[0][inner][..., 0] - ab[t][inner][..., 0]).mean())
        assert err < 0.25 * still and err < 3.0, (t, err, still)
    forward = propagate(lightness, ab[0], None)
    assert len(forward) == 9
    assert float(np.abs(forward[4][inner][..., 0] - ab[4][inner][..., 0]).mean()) < 3.0


def test_consistency_modes_reduce_flicker(clip, tmp_path, tint):
    scores, calls = {}, {}
    lightness = [frame_lightness(f)[1] for f in _decode(clip)]
    for mode in ("none", "flow", "keyframes"):
        fake.CALLS[0] = 0
        out = tmp_path / f"{mode}.mp4"
        colorize_video(clip, out, VideoJob(tint, {"jitter": 8.0}, consistency=mode, chunk_frames=8,
                                           keyframe_interval=6))
        _, ab = _lab(_decode(out))
        scores[mode] = flicker(lightness, ab, cuts=[12])
        calls[mode] = fake.CALLS[0]
    assert scores["flow"] < 0.7 * scores["none"], scores
    assert scores["keyframes"] < 0.7 * scores["none"], scores
    assert calls["none"] == 24
    # flow: the panning texture is tracked, so only each shot's first frame and every 6th are colorized
    assert calls["flow"] == 4, calls
    assert calls["keyframes"] < 24


def test_flow_mode_eases_fresh_colours_in(clip, tmp_path, tint, monkeypatch):
    """A colorized frame's change where the flow is right is spread over the next frames, not shown at once."""
    import tinct.video.pipeline as pipeline

    means = {}
    for ease in (1.0, pipeline.EASE):  # 1: the whole change at the colorized frame
        monkeypatch.setattr(pipeline, "EASE", ease)
        out = tmp_path / f"ease{ease}.mp4"
        colorize_video(clip, out, VideoJob(tint, {"jitter": 20.0}, consistency="flow", keyframe_interval=6))
        _, ab = _lab(_decode(out))
        means[ease] = np.array([x[8:-8, 8:-8].mean(axis=(0, 1)) for x in ab])  # frames 6 and 18 are colorized
    sudden, eased = means[1.0], means[pipeline.EASE]
    for k in (6, 18):
        step, step_eased = (np.abs(m[k] - m[k - 1]).max() for m in (sudden, eased))
        assert step > 1.0 and step_eased < 0.6 * step, (k, step, step_eased)
    # eased in, not lost: five frames on, most of the change has arrived
    assert np.abs(eased[11] - sudden[11]).max() < 0.5 * np.abs(sudden[11] - sudden[5]).max()


def test_flow_mode_colorizes_where_the_flow_fails(clip, tmp_path, tint):
    """min_tracked=1 asks for every frame; a large interval leaves only the shot starts."""
    fake.CALLS[0] = 0
    colorize_video(clip, tmp_path / "all.mp4", VideoJob(tint, {}, consistency="flow", min_tracked=1.0))
    assert fake.CALLS[0] == 24
    fake.CALLS[0] = 0
    colorize_video(clip, tmp_path / "few.mp4", VideoJob(tint, {}, consistency="flow", keyframe_interval=100,
                                                       min_tracked=0.5))
    assert fake.CALLS[0] == 2  # frames 0 and 12 (the cut)
    with pytest.raises(ParameterError, match="min_tracked"):
        VideoJob(tint, {}, min_tracked=0.0).check()


def test_key_frames_and_chunks():
    keys = key_frames(30, [0, 12], 5)
    assert keys == [0, 5, 10, 11, 12, 17, 22, 27, 29]
    chunks = plan_chunks(30, 10, keys)
    assert chunks[0][0] == 0 and chunks[-1][1] == 30
    assert all(a in keys for a, _ in chunks)
    assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))
    assert plan_chunks(25, 10, None) == [(0, 10), (10, 20), (20, 25)]


@pytest.mark.parametrize("mode", ["none", "flow"])
def test_interrupted_run_resumes_without_redoing_chunks(clip, tmp_path, tint, monkeypatch, mode):
    out = tmp_path / "res.mp4"
    job = VideoJob(tint, {}, consistency=mode, chunk_frames=8, min_tracked=1.0)  # flow: colorize every frame
    monkeypatch.setenv("TINCT_TEST_FAIL_AFTER", "13")  # dies inside the second chunk
    with pytest.raises(RuntimeError, match="simulated crash"):
        colorize_video(clip, out, job)
    assert not out.exists()  # no half-written output
    manifest = json.loads((tmp_path / "res.mp4.parts" / "manifest.json").read_text())
    assert list(manifest["done"]) == ["0"]
    monkeypatch.delenv("TINCT_TEST_FAIL_AFTER")
    fake.CALLS[0] = 0
    summary = colorize_video(clip, out, job)
    assert summary["chunks_reused"] == 1
    assert fake.CALLS[0] == 16  # frames 8..23 only: the finished chunk was not redone
    assert len(_decode(out)) == 24
    fake.CALLS[0] = 0
    full = tmp_path / "full.mp4"
    colorize_video(clip, full, job)
    l_a, ab_a = _lab(_decode(out))
    l_b, ab_b = _lab(_decode(full))
    assert max(np.abs(a - b).mean() for a, b in zip(ab_a, ab_b)) < 0.5  # resumed == uninterrupted


def _packets(path):
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def test_chunk_encoding_is_reproducible(tmp_path):
    """Encoding the same frames again gives the same bytes: x264's mb-tree, which did not, is off.

    With it on, a chunk re-encoded on resume could decode up to 24 levels away from the one an
    uninterrupted run wrote (the resume test above failed about one run in eight on two loaded cores).
    """
    from fractions import Fraction

    from tinct.video.io import encode_chunk

    rng = np.random.default_rng(3)
    rgb = [np.clip(f.astype(np.int16) + rng.integers(-30, 30, (1, 1, 3)), 0, 255).astype(np.uint8)
           for f in frames(8)]
    runs = []
    for k in range(3):
        encode_chunk(rgb, tmp_path / f"c{k}.mp4", Fraction(25))
        runs.append(_packets(tmp_path / f"c{k}.mp4"))
    assert runs[0] == runs[1] == runs[2]
    options = next(p[p.find(b"options:"):] for p in runs[0] if b"options:" in p)
    assert b" mbtree=0 " in options


def test_changed_settings_refuse_to_mix_then_restart(clip, tmp_path, tint, monkeypatch):
    out = tmp_path / "mix.mp4"
    monkeypatch.setenv("TINCT_TEST_FAIL_AFTER", "10")
    with pytest.raises(RuntimeError):
        colorize_video(clip, out, VideoJob(tint, {}, consistency="none", chunk_frames=8))
    monkeypatch.delenv("TINCT_TEST_FAIL_AFTER")
    other = VideoJob(tint, {"jitter": 2.0}, consistency="none", chunk_frames=8)
    with pytest.raises(ParameterError, match="--restart"):
        colorize_video(clip, out, other)
    fake.CALLS[0] = 0
    summary = colorize_video(clip, out, other, restart=True)
    assert summary["chunks_reused"] == 0 and fake.CALLS[0] == 24


def test_failed_overwrite_keeps_the_old_output(clip, tmp_path, tint, monkeypatch):
    out = tmp_path / "keep.mp4"
    colorize_video(clip, out, VideoJob(tint, {}, consistency="none", chunk_frames=8))
    before = out.read_bytes()
    with pytest.raises(ImageWriteError, match="exists"):
        colorize_video(clip, out, VideoJob(tint, {"jitter": 5.0}, consistency="none"))
    monkeypatch.setenv("TINCT_TEST_FAIL_AFTER", "4")
    fake.CALLS[0] = 0
    with pytest.raises(RuntimeError):
        colorize_video(clip, out, VideoJob(tint, {"jitter": 5.0}, consistency="none"), overwrite=True)
    assert out.read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_job_validation(tint):
    with pytest.raises(ParameterError, match="consistency"):
        VideoJob(tint, {}, consistency="magic").check()
    with pytest.raises(ParameterError, match="strength"):
        VideoJob(tint, {}, strength=1.0).check()
    with pytest.raises(ParameterError, match="video needs a colorize method"):
        VideoJob(get_method("reinhard"), {}).check()


def test_cli_video(clip, tmp_path, capsys):
    out = tmp_path / "cli.mkv"
    rc = main(["video", str(clip), "-o", str(out), "--method", "test-tint", "--consistency", "keyframes",
               "--chunk-frames", "10", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 24 and summary["output"] == str(out)
    assert len(_decode(out)) == 24
    rc = main(["video", str(clip), "-o", str(out), "--method", "test-tint"])
    err = capsys.readouterr().err
    assert rc == 2 and "exists" in err and err.count("\n") == 1
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    rc = main(["video", str(bad), "-o", str(tmp_path / "x.mp4"), "--method", "test-tint"])
    err = capsys.readouterr().err
    assert rc == 2 and "bad.mp4" in err and err.count("\n") == 1
    rc = main(["video", str(clip), "-o", str(tmp_path / "x.avi"), "--method", "test-tint"])
    assert rc == 2 and "x.avi" in capsys.readouterr().err
