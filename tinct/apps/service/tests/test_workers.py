"""Worker processes against a real ``tinct serve``: they die with it, a crash costs only its own job,
cancel and timeout stop a running job within 2 s, and leases keep a restarted server off a job that
a live process still holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from tinct.apps.service.tests.server import Server, png_bytes

PLUGIN = "tinct.apps.service.tests.plugin"


def _gray(seed=0, shape=(16, 24)):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def submit(c: httpx.Client, url: str, **params) -> str:
    r = c.post(url + "/api/jobs", data={"method": "test-sleep", "params": json.dumps(params)},
               files={"image": ("g.png", png_bytes(_gray()))})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_for(c: httpx.Client, url: str, job_id: str, states=("done", "failed", "cancelled"), timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = c.get(f"{url}/api/jobs/{job_id}").json()
        if job["state"] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for a parent counts as gone: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")
    except OSError:
        return True


def wait_gone(pids, timeout=3.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if all(gone(p) for p in pids):
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"still running after {timeout} s: {[p for p in pids if not gone(p)]}")


@pytest.fixture
def server(tmp_path):
    servers = []

    def start(*args, workers=1):
        srv = Server(tmp_path / "data", ["--workers", str(workers), "--plugin", PLUGIN, "--rate-limit", "0", *args])
        servers.append(srv.start())
        return srv

    yield start
    for srv in servers:
        srv.stop()


def test_workers_die_with_the_server(server):
    srv = server(workers=2)
    with httpx.Client(timeout=30) as c:
        job_id = submit(c, srv.url, seconds=60)
        assert wait_for(c, srv.url, job_id, ("running",))["state"] == "running"
    pids = srv.worker_pids()
    assert len(pids) == 2
    srv.kill_server_only()  # kill -9 of the server alone: nothing else is signalled
    took = wait_gone(pids, 3.0)
    print(f"\nworkers gone {took:.2f} s after the server was killed")


def test_crash_costs_only_its_own_job(server):
    srv = server("--max-attempts", "2", workers=2)
    with httpx.Client(timeout=30) as c:
        innocent = submit(c, srv.url, seconds=3)
        assert wait_for(c, srv.url, innocent, ("running",))["state"] == "running"
        crasher = submit(c, srv.url, crash=True)
        crashed = wait_for(c, srv.url, crasher)
        ok = wait_for(c, srv.url, innocent)
        after = wait_for(c, srv.url, submit(c, srv.url))  # the slot has a new worker
    assert crashed["state"] == "failed" and crashed["attempts"] == 2
    assert crashed["error"].startswith("the worker process died on each of its 2 attempts"), crashed["error"]
    assert ok["state"] == "done" and ok["attempts"] == 1, ok  # never charged for the other job's crashes
    assert after["state"] == "done"


def test_cancel_running_and_queued_jobs(server):
    srv = server()
    with httpx.Client(timeout=30) as c:
        running = submit(c, srv.url, seconds=120)
        queued = submit(c, srv.url, seconds=120)
        assert wait_for(c, srv.url, running, ("running",))["state"] == "running"
        (old_worker,) = srv.worker_pids()
        t0 = time.monotonic()
        assert c.delete(f"{srv.url}/api/jobs/{running}").status_code == 204
        wait_gone([old_worker], 2.0 - (time.monotonic() - t0))
        took = time.monotonic() - t0
        assert c.get(f"{srv.url}/api/jobs/{running}").status_code == 404
        r = c.post(f"{srv.url}/api/jobs/{queued}/cancel")
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
        assert c.get(f"{srv.url}/api/jobs/{queued}/result").status_code == 409
        # the queued job, cancelled, never runs; a new job gets the replacement worker
        follow = wait_for(c, srv.url, submit(c, srv.url))
        assert follow["state"] == "done"
        assert wait_for(c, srv.url, queued)["state"] == "cancelled"
        # a running job cancelled through POST stays, in state cancelled
        third = submit(c, srv.url, seconds=120)
        assert wait_for(c, srv.url, third, ("running",))["state"] == "running"
        t1 = time.monotonic()
        r = c.post(f"{srv.url}/api/jobs/{third}/cancel")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        assert time.monotonic() - t1 < 2.0
        runs = {j: srv_runs(srv, j) for j in (running, queued, third)}
    assert took < 2.0, took
    assert runs[queued] == []  # never started
    assert [r["outcome"] for r in runs[third]] == ["cancelled"]
    print(f"\nrunning job deleted and its worker gone in {took:.2f} s")


def srv_runs(srv: Server, job_id: str) -> list[dict]:
    import sqlite3

    with sqlite3.connect(srv.data_dir / "jobs.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs WHERE job_id = ? ORDER BY started", (job_id,))]


def test_job_timeout(server):
    srv = server("--job-timeout", "1.5")
    with httpx.Client(timeout=30) as c:
        t0 = time.monotonic()
        slow = wait_for(c, srv.url, submit(c, srv.url, seconds=60))
        took = time.monotonic() - t0
        quick = wait_for(c, srv.url, submit(c, srv.url, seconds=0.1))
    assert slow["state"] == "failed" and slow["attempts"] == 1
    assert slow["error"] == "timed out: the job ran longer than the limit of 1.5 s (--job-timeout)"
    assert took < 6, took
    assert quick["state"] == "done"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS as Linux applies it")
def test_job_memory_is_bounded(server):
    srv = server("--job-memory-mb", "1536")
    with httpx.Client(timeout=30) as c:
        hog = wait_for(c, srv.url, submit(c, srv.url, alloc_mb=4096))
        fine = wait_for(c, srv.url, submit(c, srv.url, alloc_mb=16))
    assert hog["state"] == "failed" and "out of memory" in hog["error"], hog
    assert hog["attempts"] == 1  # a refused allocation is an error of the job, not a crash
    assert fine["state"] == "done"


# ---------------------------------------------------------------------------------------------- leases
def _queued_job(store, tmp_path):
    from tinct.apps.service.services.execute import upload_path
    from tinct.apps.service.services.store import new_job_id

    staged = store.new_tmp_dir()
    upload_path(staged, "image").write_bytes(png_bytes(_gray()))
    job_id = new_job_id()
    store.create(job_id, staged, method="test-sleep", params={}, post=None, inputs=["image"], name="g",
                 width=24, height=16)
    return job_id


def test_a_live_holder_keeps_its_job_across_a_restart(tmp_path):
    """A job whose runner outlived its server is not taken back until that process is gone."""
    from tinct.apps.service.services.store import Holder, JobStore

    store = JobStore(tmp_path / "data")
    job_id = _queued_job(store, tmp_path)
    survivor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        job = store.claim(Holder.of("old-server", survivor.pid))
        assert job["id"] == job_id and job["lease"]
        # a restarted server: another instance, same data dir
        assert store.recover(2, "new-server") == {"requeued": [], "failed": []}
        assert store.get(job_id)["state"] == "running"
        assert store.renew(job_id, job["lease"])  # the survivor can still renew and finish
        survivor.send_signal(signal.SIGKILL)
        survivor.wait(10)
        assert store.reap("new-server", 2) == {"requeued": [job_id], "failed": []}
        again = store.get(job_id)
        assert again["state"] == "queued" and again["lease"] is None
        assert not store.renew(job_id, job["lease"])  # the old lease is dead: its writes change nothing
        assert not store.finish(job_id, {}, lease=job["lease"])
        assert [r["outcome"] for r in store.runs(job_id)] == ["died"]
    finally:
        survivor.kill()
        survivor.wait(10)
        store.close()


def test_a_reused_pid_is_not_the_holder(tmp_path):
    from tinct.apps.service.services.store import Holder, JobStore

    store = JobStore(tmp_path / "data")
    job_id = _queued_job(store, tmp_path)
    parent = os.getppid()  # alive, but started at another time than the holder recorded
    store.claim(Holder("old-server", parent, start="1", host=Holder.of("x").host))
    assert store.recover(2, "new-server")["requeued"] == [job_id]
    store.close()
