"""Load and restart on loopback against a real ``tinct serve`` (uvicorn + worker processes).

- 200 jobs from 8 concurrent clients, every input distinct; each result must equal the result
  computed locally for that job's own input (so nothing is lost, duplicated or mixed up).
- A worker process killed in the middle of a job, then the server killed (SIGKILL, server and
  workers) in the middle of a queue of jobs and started again on the same data dir: every job
  ends done (with the right result) or failed with a reason.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import httpx
import numpy as np

from tinct.apps.service.tests.server import Server, decode_png, png_bytes, run_jobs, worker_pids
from tinct.registry import get_method


def _job_images(i: int, shape=(24, 32)):
    rng = np.random.default_rng(1000 + i)
    img = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    img[0, 0] = [i % 256, (i // 256) % 256, 7]  # distinct even if two noise draws collided
    ref = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    return img, ref


def test_200_jobs_8_clients_no_loss_no_mixup(tmp_path):
    n = 200
    inputs = [_job_images(i) for i in range(n)]
    strengths = [round(0.2 + 0.8 * (i % 5) / 4, 2) for i in range(n)]
    jobs = [{"files": {"image": png_bytes(img), "reference": png_bytes(ref)}, "method": "reinhard",
             "params": {"strength": s}} for (img, ref), s in zip(inputs, strengths)]
    reinhard = get_method("reinhard")
    # every client comes from 127.0.0.1: one address, so the per-client limits are off here
    with Server(tmp_path / "data", ["--workers", "2", "--rate-limit", "0", "--max-queued-per-client", "0"]) as srv:
        start = time.perf_counter()
        results = run_jobs(srv.url, jobs, clients=8)
        elapsed = time.perf_counter() - start
        counts = httpx.get(srv.url + "/api/health").json()["jobs"]
    ids = [r["id"] for r in results]
    assert len(set(ids)) == n  # no duplicates
    assert counts == {"queued": 0, "running": 0, "done": n, "failed": 0, "cancelled": 0}  # none lost, none extra
    for i, ((img, ref), s, res) in enumerate(zip(inputs, strengths, results)):
        assert res["state"] == "done", (i, res["error"])
        np.testing.assert_array_equal(decode_png(res["result"]), reinhard(img, reference=ref, strength=s),
                                      err_msg=f"job {i} got someone else's result")
    lat = np.array([r["latency_s"] for r in results])
    print(f"\n{n} jobs, 8 clients: {n / elapsed:.1f} jobs/s, latency p50 {np.percentile(lat, 50) * 1000:.0f} ms, "
          f"p95 {np.percentile(lat, 95) * 1000:.0f} ms")


def _worker_pids(server_pid: int) -> list[int]:
    """The pool's worker processes of a server (Linux /proc): children started by multiprocessing's spawn_main."""
    return worker_pids(server_pid)


def test_worker_crash_then_server_kill_and_restart(tmp_path):
    """A worker process dies mid-job, then the whole server is killed mid-queue and started again.

    The crashed job is retried; after the restart queued jobs run, interrupted ones run once more
    (or, already on their last attempt, fail with the reason): every job ends done with the right
    result, or failed with a reason naming the restart.
    """
    n = 10
    rng = np.random.default_rng(7)
    # the first job is large so the worker can be killed in the middle of it; the others about 0.05 MP,
    # slow enough (one worker) that jobs still wait and run when the server is killed
    shapes = [(900, 900)] + [(200, 240)] * (n - 1)
    inputs = [(rng.integers(0, 256, (*hw, 3)).astype(np.uint8), rng.integers(0, 256, (64, 64, 3)).astype(np.uint8))
              for hw in shapes]
    params = {"strength": 0.9}
    data = tmp_path / "data"
    srv = Server(data, ["--workers", "1"]).start()
    try:
        ids = []
        with httpx.Client(timeout=30) as c:
            for img, ref in inputs:
                r = c.post(srv.url + "/api/jobs", data={"method": "reinhard", "params": json.dumps(params)},
                           files={"image": ("a.png", png_bytes(img)), "reference": ("r.png", png_bytes(ref))})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            while c.get(f"{srv.url}/api/jobs/{ids[0]}").json()["stage"] not in ("running", "writing"):
                time.sleep(0.01)
            workers = _worker_pids(srv.proc.pid)
            assert len(workers) == 1
            os.kill(workers[0], signal.SIGKILL)  # a crash in the middle of the first job
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # then kill the server once some are done and one is running
                states = [c.get(f"{srv.url}/api/jobs/{i}").json()["state"] for i in ids]
                if states.count("done") >= 1 and "running" in states:
                    break
                time.sleep(0.05)
        srv.kill()
    finally:
        srv.kill()
    # the truth at the moment of the kill, from the database the dead server left behind
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        before = {i: (state, attempts) for i, state, attempts in db.execute("SELECT id, state, attempts FROM jobs")}
    assert sorted(before) == sorted(ids)
    states = [state for state, _ in before.values()]
    assert "queued" in states and "running" in states, before
    assert before[ids[0]][1] == 2 or before[ids[0]][0] == "queued"  # the crashed job was taken up again

    with Server(data, ["--workers", "2"], port=srv.port) as srv2, httpx.Client(timeout=30) as c:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = [c.get(f"{srv2.url}/api/jobs/{i}").json() for i in ids]
            if all(j["state"] in ("done", "failed") for j in jobs):
                break
            time.sleep(0.1)
        results = {j["id"]: (j, c.get(srv2.url + j["result_url"]).content if j["state"] == "done" else None)
                   for j in jobs}
    reinhard = get_method("reinhard")
    for job_id, (img, ref) in zip(ids, inputs):
        job, data_png = results[job_id]
        state, attempts = before[job_id]
        if state == "running" and attempts >= 2:  # interrupted on its last attempt: failed, with the reason
            assert job["state"] == "failed" and job["error"].startswith("interrupted by a server restart"), job
            continue
        assert job["state"] == "done", (state, attempts, job)
        np.testing.assert_array_equal(decode_png(data_png), reinhard(img, reference=ref, **params))
        # done jobs were left alone; queued ones ran once more; an interrupted one was retried
        assert job["attempts"] == attempts + (state != "done"), (state, attempts, job)
    assert results[ids[0]][0]["attempts"] >= 2  # the job whose worker died ran again
