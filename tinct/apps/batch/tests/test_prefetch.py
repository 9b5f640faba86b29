"""A batch task overlaps reading and writing with the computation: same results, same failures, same guarantees.

These call :func:`tinct.apps.batch.tasks.process_files` in this process, as a Dask worker would.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import tinct.io
from tinct.apps.batch import tasks
from tinct.apps.batch.tests import plugin
from tinct.apps.batch.tests.photos import make_photos
from tinct.io import read_image, read_provenance, write_image
from tinct.pipeline import make_job, run_files

PLUGIN = "tinct.apps.batch.tests.plugin"


def _spec(method: str, params: dict | None = None, **extra) -> dict:
    spec = {"method": method, "params": params or {}, "reference": None, "post": None, "max_pixels": None,
            "overwrite": False, "plugins": (PLUGIN,), "video": {}}
    return {**spec, **extra}


def _items(photos, out: Path, method: str) -> list[tuple[str, str]]:
    return [(str(p), str(out / f"{p.stem}.{method}.png")) for p in photos]


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.fixture
def hook(monkeypatch):
    """Install a ``test-slow`` call hook for one test."""
    def install(func):
        monkeypatch.setattr(plugin, "HOOK", func)
    return install


def test_overlapped_task_writes_what_the_sequential_pipeline_writes(tmp_path, monkeypatch):
    photos = make_photos(tmp_path / "in", 6)
    ref = tmp_path / "ref.png"
    write_image(ref, np.dstack([np.full((8, 8), v, np.uint8) for v in (200, 90, 40)]))
    items = _items(photos, tmp_path / "out", "reinhard")
    results = tasks.process_files(items, _spec("reinhard", reference=str(ref)))
    assert [(r["input"], r["output"], r["status"]) for r in results] == [(s, d, "written") for s, d in items]
    # The CLI's path: tinct.pipeline.run_files, one file after another.
    job = make_job("reinhard", "transfer", inputs={"reference": str(ref)})
    done, failed = run_files(job, [(p, tmp_path / "seq" / Path(d).name) for p, (_, d) in zip(photos, items)])
    assert len(done) == 6 and not failed
    for _, dst in items:
        ours, seq = Path(dst), tmp_path / "seq" / Path(dst).name
        np.testing.assert_array_equal(read_image(ours).pixels, read_image(seq).pixels)
        assert read_provenance(ours) == read_provenance(seq)  # the same method, parameters and model recorded
    # And the overlap switched off gives the same files too.
    monkeypatch.setenv("TINCT_BATCH_PREFETCH", "0")
    off = [(s, str(tmp_path / "off" / Path(d).name)) for s, d in items]
    assert [r["status"] for r in tasks.process_files(off, _spec("reinhard", reference=str(ref)))] == ["written"] * 6
    for (_, a), (_, b) in zip(items, off):
        np.testing.assert_array_equal(read_image(a).pixels, read_image(b).pixels)


def test_next_file_is_read_while_one_computes_and_only_one_computes(tmp_path, monkeypatch, hook):
    photos = make_photos(tmp_path / "in", 5)
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    second_read = threading.Event()
    original = tinct.io.read_image

    def reading(path, **kwargs):
        with lock:
            events.append(("read", Path(path).name))
            if sum(e[0] == "read" for e in events) >= 2:
                second_read.set()
        return original(path, **kwargs)

    waited = []

    def on_call(event):
        with lock:
            events.append((event, ""))
        if event == "start" and not waited:
            # The first file's computation waits for the second file's read: it happens only if the task
            # reads ahead (without the overlap this wait runs out and the assertion below fails).
            waited.append(second_read.wait(timeout=10))

    monkeypatch.setattr(tinct.io, "read_image", reading)
    hook(on_call)
    items = _items(photos, tmp_path / "out", "test-slow")
    results = tasks.process_files(items, _spec("test-slow", {"delay": 0.0, "markers": ""}))
    assert [r["status"] for r in results] == ["written"] * 5
    assert waited == [True], "the next file was not read while the first was being computed"
    calls = [e for e, _ in events if e in ("start", "end")]
    assert calls == ["start", "end"] * 5  # computations never overlap: one per Dask thread
    assert sorted(n for e, n in events if e == "read") == [p.name for p in photos]  # each file read once


def test_corrupt_file_in_the_middle_is_one_line_and_the_others_are_written(tmp_path):
    photos = make_photos(tmp_path / "in", 4)
    broken = tmp_path / "in" / "img01b.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    items = _items(photos[:2], out, "test-slow") + [(str(broken), str(out / "img01b.test-slow.jpg"))]
    items += _items(photos[2:], out, "test-slow")
    results = tasks.process_files(items, _spec("test-slow", {"delay": 0.0, "markers": ""}))
    assert [r["input"] for r in results] == [s for s, _ in items]  # in the order of the task
    assert [r["status"] for r in results] == ["written", "written", "failed", "written", "written"]
    error = results[2]["error"]
    assert "img01b.jpg" in error and "\n" not in error
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(d).name for s, d in items if s != str(broken))
    assert not _temps(out)


def test_interrupted_task_leaves_no_partial_files_and_a_rerun_finishes(tmp_path, hook):
    photos = make_photos(tmp_path / "in", 8)
    out = tmp_path / "out"
    items = _items(photos, out, "test-slow")
    spec = _spec("test-slow", {"delay": 0.05, "markers": ""})
    calls = []

    def interrupt_third(event):
        if event == "start":
            calls.append(event)
            if len(calls) == 3:
                raise KeyboardInterrupt  # not about one file: the whole task stops

    hook(interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        tasks.process_files(items, spec)
    assert not _temps(out)
    done = sorted(out.glob("*.png"))
    assert 1 <= len(done) < len(items)  # files after the interruption were cancelled, not started
    expected = {Path(d).name: plugin.test_slow(read_image(s).pixels) for s, d in items}
    for p in done:  # whatever is there is complete
        np.testing.assert_array_equal(read_image(p).pixels, expected[p.name])
    before = {p.name: p.stat().st_mtime_ns for p in done}

    hook(None)
    results = tasks.process_files(items, spec)  # the batch runs the task again: done files are skipped
    assert [r["output"] for r in results] == [d for _, d in items]
    assert {Path(r["output"]).name for r in results if r["status"] == "skipped"} == set(before)
    assert {Path(r["output"]).name for r in results if r["status"] == "written"} == \
        {Path(d).name for _, d in items} - set(before)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png") if p.name in before} == before
    for _, d in items:
        np.testing.assert_array_equal(read_image(d).pixels, expected[Path(d).name])
    assert not _temps(out)


def test_worker_cache_keeps_one_job_per_setting(tmp_path):
    """A long-lived cluster serves batches with other parameters: each gets its own job, not the last one."""
    photos = make_photos(tmp_path / "in", 2)
    ref = tmp_path / "ref.png"
    write_image(ref, np.dstack([np.full((8, 8), v, np.uint8) for v in (200, 90, 40)]))
    full = tasks.process_files(_items(photos, tmp_path / "full", "reinhard"),
                               _spec("reinhard", {"strength": 1.0}, reference=str(ref)))
    half = tasks.process_files(_items(photos, tmp_path / "half", "reinhard"),
                               _spec("reinhard", {"strength": 0.5}, reference=str(ref)))
    assert [r["status"] for r in full + half] == ["written"] * 4
    assert not np.array_equal(read_image(full[0]["output"]).pixels, read_image(half[0]["output"]).pixels)
    assert read_provenance(half[0]["output"])["params"]["strength"] == 0.5
