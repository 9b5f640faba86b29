"""tinct batch on a real Dask LocalCluster: results, failures, idempotence, a worker killed mid-run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tinct.apps.batch import find_inputs, local_cluster, run_batch
from tinct.apps.batch import runner as runner_mod
from tinct.apps.batch.tests.photos import make_photos
from tinct.apps.cli import main
from tinct.errors import MissingWeightsError
from tinct.io import read_image, write_image
from tinct.registry import get_method

PLUGIN = "tinct.apps.batch.tests.plugin"


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def test_find_inputs_leaves_out_the_output_folder(tmp_path):
    make_photos(tmp_path / "in", 2)
    make_photos(tmp_path / "in" / "out", 2, seed=1)  # results of an earlier run, inside the input folder
    found = find_inputs([tmp_path / "in"], tmp_path / "in" / "out")
    assert sorted(f.name for f, _ in found) == ["img00.png", "img01.png"]


def test_batch_local_cluster_failures_and_rerun(tmp_path, capsys):
    src = tmp_path / "in"
    photos = make_photos(src, 4) + make_photos(src / "sub", 1, seed=3)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ref = tmp_path / "ref.png"
    write_image(ref, np.dstack([np.full((8, 8), 200, np.uint8), np.full((8, 8), 90, np.uint8),
                                np.full((8, 8), 40, np.uint8)]))
    out = tmp_path / "out"
    results = []
    summary = run_batch([src], out, "reinhard", reference=str(ref), workers=2, on_result=results.append)
    assert len(summary["written"]) == 5 and len(summary["skipped"]) == 0
    assert [Path(f["input"]).name for f in summary["failed"]] == ["broken.jpg"]
    assert "broken.jpg" in summary["failed"][0]["error"] and "\n" not in summary["failed"][0]["error"]
    assert len(summary["workers"]) >= 1 and len(results) == 6
    reinhard = get_method("reinhard")
    refpix = read_image(ref).pixels
    for p in photos:
        rel = p.relative_to(src)
        got = read_image(out / rel.parent / f"{p.stem}.reinhard.png").pixels
        np.testing.assert_array_equal(got, reinhard(read_image(p).pixels, refpix))  # same as a direct call
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    # Run again through the CLI (bad file removed): everything done is skipped, no cluster is even started.
    (src / "broken.jpg").unlink()
    rc = main(["batch", str(src), str(out), "--method", "reinhard", "--reference", str(ref), "--json"])
    again = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(again["skipped"]) == 5 and not again["written"] and not again["failed"]
    assert again["workers"] == []
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == mtimes  # nothing rewritten
    assert not _temps(out)


def test_killed_worker_batch_completes_every_output_once(tmp_path):
    from distributed import Client

    src = tmp_path / "in"
    photos = make_photos(src, 12)
    out = tmp_path / "out"
    markers = tmp_path / "markers"
    markers.mkdir()
    cluster = local_cluster(2, 1)
    client = Client(cluster)
    try:
        pids = list(client.run(os.getpid).values())
        killed: list[int] = []
        inodes: dict[str, int] = {}

        def on_result(res):
            if res["status"] == "written":
                inodes[res["output"]] = os.stat(res["output"]).st_ino
            if len(inodes) >= 3 and not killed:
                # Kill a worker that is inside a call right now: the newest call started and not ended.
                marks = {m.name: m.stat().st_mtime_ns for m in markers.iterdir()}
                busy = [(t, n.split("-")[1]) for n, t in marks.items()
                        if n.startswith("start-") and n.replace("start", "end", 1) not in marks]
                busy = [(t, int(pid)) for t, pid in busy if int(pid) in pids]
                if busy:
                    victim = max(busy)[1]
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)

        summary = run_batch([src], out, "test-slow", {"delay": 0.4, "markers": str(markers)},
                            scheduler=cluster.scheduler_address, plugins=(PLUGIN,), on_result=on_result)
    finally:
        client.close()
        cluster.close()
    assert killed
    assert not summary["failed"]
    outputs = sorted(out.glob("*.png"))
    assert [p.name for p in outputs] == sorted(f"{p.stem}.test-slow.png" for p in photos)
    reported = [r["output"] for r in summary["written"] + summary["skipped"]]
    assert sorted(reported) == sorted(str(p) for p in outputs)  # each output reported exactly once
    for path, ino in inodes.items():
        assert os.stat(path).st_ino == ino  # never replaced after it was reported: written once
    for p in outputs:
        assert read_image(p).pixels.shape == (24, 32, 3)
    assert not _temps(out)
    names = [m.name for m in markers.iterdir()]
    started = {n.split("-", 1)[1] for n in names if n.startswith("start-")}
    ended = {n.split("-", 1)[1] for n in names if n.startswith("end-")}
    lost = [s for s in started - ended if s.startswith(f"{killed[0]}-")]
    assert lost, "the killed worker was in the middle of a task"
    loads = [n for n in names if n.startswith("load-")]
    calls = len(started)
    assert calls >= 12 and len(loads) <= 3  # the model is loaded once per worker process, not per task


def test_unreachable_scheduler_is_one_line_error(tmp_path, monkeypatch, capsys):
    make_photos(tmp_path / "in", 1)
    monkeypatch.setattr(runner_mod, "CONNECT_TIMEOUT", "1s")
    rc = main(["batch", str(tmp_path / "in"), str(tmp_path / "out"), "--method", "test-slow", "--plugin", PLUGIN,
               "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert rc == 2 and "--scheduler" in err and err.count("\n") == 1
    with pytest.raises(Exception, match="--workers"):
        run_batch([tmp_path / "in"], tmp_path / "out", "test-slow", workers=0, plugins=(PLUGIN,))


def test_videos_and_images_in_one_batch(tmp_path, capsys):
    """A video is one task (colorized with temporal consistency), next to images; in-process cluster."""
    from tinct.video import probe
    from tinct.video.tests.clips import frames, write_clip

    src = tmp_path / "in"
    make_photos(src, 2)
    write_clip(src / "clip.mp4", frames(10))
    out = tmp_path / "out"
    with local_cluster(1, 2, processes=False) as cluster:
        summary = run_batch([src], out, "test-tint", scheduler=cluster.scheduler_address,
                            plugins=("tinct.video.tests.fake_methods",), video={"consistency": "keyframes"})
        assert not summary["failed"] and len(summary["written"]) == 3
        assert probe(out / "clip.test-tint.mp4").frames == 10
        assert sorted(p.name for p in out.glob("*.png")) == ["img00.test-tint.png", "img01.test-tint.png"]
        # Missing weights are the same for every file: the batch stops and says so once.
        with pytest.raises(MissingWeightsError, match="not found"):
            run_batch([src], tmp_path / "out2", "eccv16", {"weights": str(tmp_path / "missing.pt")},
                      scheduler=cluster.scheduler_address)
        # The CLI with a transfer method: the video cannot take it and is reported; the images are done.
        rc = main(["batch", str(src), str(out), "--method", "reinhard", "--reference", str(src / "img00.png"),
                   "--scheduler", cluster.scheduler_address, "--json"])
    captured = capsys.readouterr()
    again = json.loads(captured.out)
    errors = {Path(f["input"]).name: f["error"] for f in again["failed"]}
    assert rc == 2 and list(errors) == ["clip.mp4"] and "colorize method" in errors["clip.mp4"]
    assert len(again["written"]) == 2
    assert captured.err.count("\n") == 1 and "clip.mp4" in captured.err


def test_tasks_are_chunks_of_images_and_single_videos():
    from tinct.apps.batch.runner import MAX_CHUNK, plan_tasks

    todo = [(Path(f"in/img{i:03d}.png"), Path(f"out/img{i:03d}.png")) for i in range(100)]
    todo.append((Path("in/clip.mp4"), Path("out/clip.mp4")))
    tasks = plan_tasks(todo, slots=2)
    assert tasks[0] == [todo[-1]]  # the video alone
    images = [item for t in tasks[1:] for item in t]
    assert images == todo[:-1]  # every image once, in order
    assert all(len(t) == 13 for t in tasks[1:-1]) and len(tasks) - 1 == 8  # about 4 tasks per worker thread
    assert max(len(t) for t in plan_tasks(todo * 10, slots=1)) == MAX_CHUNK
    assert [len(t) for t in plan_tasks(todo[:3], slots=8)] == [1, 1, 1]


def test_workers_get_plain_malloc_and_their_thread_count():
    from tinct.apps.batch.runner import default_workers, worker_environ

    env = worker_environ(2)
    assert env["OMP_NUM_THREADS"] == "2" and int(env["MALLOC_MMAP_THRESHOLD_"]) >= 1 << 25
    assert default_workers(1) >= 1 and default_workers(10**6) == 1


def test_empty_input_folder_is_one_line_error(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    rc = main(["batch", str(tmp_path / "in"), str(tmp_path / "out"), "--method", "test-slow", "--plugin", PLUGIN])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "holds no image or video files" in err


def test_local_cluster_gives_the_network_one_thread_per_dask_thread(tmp_path):
    """Left unset, a method's ``threads`` is 1 on a LocalCluster (not a spinning thread per core in each worker);
    a value the user gives is kept, and so is the library default on a scheduler the user runs."""
    from tinct.apps.batch.runner import network_threads
    from tinct.io import read_provenance

    slow = get_method("test-slow")
    assert network_threads(slow, {"delay": 0.0}) == {"delay": 0.0, "threads": 1}
    assert network_threads(slow, {"threads": 0}) == {"threads": 0}  # asked for: the library default
    assert network_threads(get_method("reinhard"), {}) == {}  # no such parameter
    make_photos(tmp_path / "in", 2)
    local = run_batch([tmp_path / "in"], tmp_path / "local", "test-slow", workers=1, plugins=(PLUGIN,))
    with local_cluster(1, 1, processes=False) as cluster:
        theirs = run_batch([tmp_path / "in"], tmp_path / "theirs", "test-slow", scheduler=cluster.scheduler_address,
                           plugins=(PLUGIN,))
    recorded = [read_provenance(r["output"])["params"]["threads"] for r in local["written"] + theirs["written"]]
    assert recorded == [1, 1, 0, 0]
