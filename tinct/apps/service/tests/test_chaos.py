"""A bounded chaos test of ``tinct serve`` on loopback: crashes, kills, cancels and hostile requests under load.

Four clients submit :data:`JOBS` jobs (short ``test-sleep`` jobs, and ``reinhard`` jobs whose results
are checked pixel for pixel) while the test

1. kills the server alone with SIGKILL in the middle of the load: its worker processes must be gone
   within 3 s (no orphans), and a new server on the same data directory takes over;
2. kills a worker process in the middle of a job;
3. cancels running jobs (``DELETE`` and ``POST .../cancel``): each answer within 2 s, its worker gone;
4. sends hostile requests: deep JSON, 5,000-digit numbers, wrong types, unknown fields, broken
   multipart, bad headers, raw garbage: every answer a 4xx.

Then: every job a client was told about exists and ended (0 lost); no job ran twice (the run log
shows, per job, runs one after the other, none after a successful one, at most one success);
the cancelled jobs are cancelled or gone; the reinhard results are right; and after the server
stops no worker process it ever had is left. Everything is bounded: the job count, and
:data:`DEADLINE_S` for the whole run, after which the test fails rather than hangs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time

import httpx
import numpy as np

from tinct.apps.service.tests.server import Server, decode_png, png_bytes

PLUGIN = "tinct.apps.service.tests.plugin"
JOBS = 48
CLIENTS = 4
DEADLINE_S = 240.0
ARGS = ["--workers", "2", "--plugin", PLUGIN, "--rate-limit", "0", "--max-queued-per-client", "0",
        "--max-attempts", "4", "--job-timeout", "60"]


def _job(i: int) -> dict:
    rng = np.random.default_rng(500 + i)
    if i % 4 == 0:  # reinhard: a result that can be checked
        img = rng.integers(0, 256, (20, 28, 3)).astype(np.uint8)
        ref = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
        return {"method": "reinhard", "params": {"strength": 0.8}, "files": {"image": img, "reference": ref}}
    gray = rng.integers(0, 256, (12, 16)).astype(np.uint8)
    seconds = 2.5 if i % 4 == 1 else round(0.2 + 0.6 * rng.random(), 2)  # long ones: there to be interrupted
    return {"method": "test-sleep", "params": {"seconds": seconds}, "files": {"image": gray}}


class Load:
    """Client threads that submit every job once, riding out the server's downtime; ids as they come."""

    def __init__(self, url_of, jobs: list[dict], deadline: float):
        self.url_of, self.jobs, self.deadline = url_of, jobs, deadline
        self.ids: dict[int, str] = {}
        self.unknown: list[int] = []  # submissions cut off by a kill: the client never learnt the id
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        for t in self.threads:
            t.join(max(0.0, self.deadline - time.monotonic()))

    def _client(self, k: int) -> None:
        with httpx.Client(timeout=20) as c:
            for i in range(k, len(self.jobs), CLIENTS):
                job = self.jobs[i]
                files = {role: (f"{role}.png", png_bytes(a)) for role, a in job["files"].items()}
                data = {"method": job["method"], "params": json.dumps(job["params"])}
                while time.monotonic() < self.deadline:
                    try:
                        r = c.post(self.url_of() + "/api/jobs", files=files, data=data)
                    except httpx.ConnectError:
                        time.sleep(0.1)  # the server is down: try again
                        continue
                    except httpx.HTTPError:  # sent, then the server died: the job may or may not exist
                        with self.lock:
                            self.unknown.append(i)
                        break
                    if r.status_code == 201:
                        with self.lock:
                            self.ids[i] = r.json()["id"]
                        break
                    assert r.status_code in (429, 503), r.text  # busy: try again
                    time.sleep(0.2)
                time.sleep(0.05)


def _states(data_dir) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(data_dir / "jobs.sqlite3", timeout=30) as db:
        return {i: (s, a, e) for i, s, a, e in db.execute("SELECT id, state, attempts, error FROM jobs")}


def _running(c: httpx.Client, url: str, ids, long_only: bool = True) -> list[str]:
    """Jobs among ``ids`` running now (by default only long ones, which will still run a moment later)."""
    out = []
    for job_id in ids:
        try:
            job = c.get(f"{url}/api/jobs/{job_id}").json()
        except (httpx.HTTPError, ValueError):
            continue
        if job.get("state") == "running" and (not long_only or job["params"].get("seconds", 0) >= 2):
            out.append(job_id)
    return out


def _holder(data_dir, job_id: str) -> int | None:
    with sqlite3.connect(data_dir / "jobs.sqlite3", timeout=30) as db:
        row = db.execute("SELECT lease_pid FROM jobs WHERE id = ? AND state = 'running'", (job_id,)).fetchone()
    return row[0] if row else None


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")
    except OSError:
        return True


def _wait_gone(pids, seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(_gone(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if not _gone(p)]


def _raw(port: int, payload: bytes) -> int:
    """Send raw bytes; the HTTP status of the answer (0 if the server just closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0


def _hostile(url: str, port: int) -> list[tuple[str, int, str]]:
    """Bad requests of every kind; (name, status, body) of each answer."""
    img = png_bytes(np.zeros((8, 8), np.uint8))
    good = {"image": ("a.png", img)}
    cases = []
    with httpx.Client(timeout=20) as c:
        def post(name, **kw):
            r = c.post(url + "/api/jobs", **kw)
            cases.append((name, r.status_code, r.text[:300]))

        post("deep json", files=good, data={"method": "test-sleep", "params": "[" * 100_000 + "]" * 100_000})
        post("deep json, short", files=good, data={"method": "test-sleep", "params": "[" * 5000 + "]" * 5000})
        post("5000 digits", files=good, data={"method": "test-sleep", "params": '{"seconds": ' + "9" * 5000 + "}"})
        post("wrong type", files=good, data={"method": "test-sleep", "params": '{"seconds": "soon"}'})
        post("object value", files=good, data={"method": "test-sleep", "params": '{"seconds": {"a": [1]}}'})
        post("unknown param", files=good, data={"method": "test-sleep", "params": '{"sleep": 1}'})
        post("unknown field", files=good, data={"method": "test-sleep", "evil": "1"})
        post("unknown method", files=good, data={"method": "rm -rf /"})
        post("over a cap", files=good, data={"method": "auto", "params": '{"input_size": 4096}'})
        post("not an image", files={"image": ("a.png", b"GIF89a" + bytes(100))}, data={"method": "test-sleep"})
        post("broken multipart", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=x"})
        post("no boundary", content=b"abc", headers={"content-type": "multipart/form-data"})
        post("json body", json={"method": "test-sleep"})
        post("other site", files=good, data={"method": "test-sleep"}, headers={"origin": "http://evil.example"})
        for path in ("/api/jobs/..%2F..%2Fjobs.sqlite3", "/api/jobs/" + "A" * 5000, "/static/../app.py"):
            r = c.get(url + path)
            cases.append((f"GET {path[:40]}", r.status_code, r.text[:300]))
        r = c.get(url + "/api/health", headers={"host": "evil.example"})
        cases.append(("rebound host", r.status_code, r.text[:300]))
    for name, payload in [
        ("garbage", b"\x00\xff\x13\x37 not http at all\r\n\r\n"),
        ("bad content-length", b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999\r\n"
                               b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"),
        ("huge length", b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000000\r\n"
                        b"Content-Type: multipart/form-data; boundary=x\r\n\r\nx"),
        ("two content-lengths", b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
                                b"Content-Length: 5\r\n\r\nabc"),
        ("huge header", b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"a" * 200_000 + b"\r\n\r\n"),
    ]:
        cases.append((name, _raw(port, payload), ""))
    return cases


def test_chaos(tmp_path):
    start = time.monotonic()
    deadline = start + DEADLINE_S
    data = tmp_path / "data"
    jobs = [_job(i) for i in range(JOBS)]
    servers: list[Server] = []
    every_worker: set[int] = set()
    current = {"srv": Server(data, ARGS).start()}
    servers.append(current["srv"])
    port = current["srv"].port
    load = Load(lambda: current["srv"].url, jobs, deadline).start()
    try:
        with httpx.Client(timeout=20) as c:
            # 1. kill -9 of the server alone, mid-load
            srv = current["srv"]
            while len(load.ids) < JOBS // 3 and time.monotonic() < deadline:
                every_worker.update(srv.worker_pids())
                time.sleep(0.05)
            while not _running(c, srv.url, list(load.ids.values())) and time.monotonic() < deadline:
                time.sleep(0.02)
            pids = srv.worker_pids()
            every_worker.update(pids)
            assert len(pids) == 2
            srv.kill_server_only()
            assert _wait_gone(pids, 3.0) == [], "worker processes outlived their server (orphans)"
            srv = Server(data, ARGS, port=port).start()
            servers.append(srv)
            current["srv"] = srv

            # 2. a worker killed in the middle of a job
            victim = None
            while victim is None and time.monotonic() < deadline:
                every_worker.update(srv.worker_pids())
                running = _running(c, srv.url, list(load.ids.values()))
                victim = _holder(data, running[0]) if running else None
                time.sleep(0.02)
            assert victim in srv.worker_pids()
            os.kill(victim, signal.SIGKILL)
            assert _wait_gone([victim], 2.0) == []

            # 3. cancel running jobs, by DELETE and by POST .../cancel
            cancelled: dict[str, str] = {}
            for how in ("delete", "cancel"):
                target = None
                while target is None and time.monotonic() < deadline:
                    every_worker.update(srv.worker_pids())
                    running = [j for j in _running(c, srv.url, list(load.ids.values())) if j not in cancelled]
                    target = running[0] if running else None
                    time.sleep(0.01)
                assert target is not None, "no running job to cancel"
                before = set(srv.worker_pids())
                t0 = time.monotonic()
                if how == "delete":
                    r = c.delete(f"{srv.url}/api/jobs/{target}")
                    assert r.status_code == 204, r.text
                else:
                    r = c.post(f"{srv.url}/api/jobs/{target}/cancel")
                    assert r.status_code == 200 and r.json()["state"] in ("cancelled", "done"), r.text
                took = time.monotonic() - t0
                assert took < 2.0, f"{how} took {took:.2f} s"
                replaced = before - set(srv.worker_pids())
                assert _wait_gone(replaced, 2.0 - took if took < 2.0 else 0.1) == []
                cancelled[target] = how

            # 4. hostile requests, while the load goes on
            answers = _hostile(srv.url, port)

            load.join()
            assert time.monotonic() < deadline, "the load did not finish in time"
            # every job a client knows of ends
            while time.monotonic() < deadline:
                every_worker.update(srv.worker_pids())
                states = _states(data)
                if all(s[0] in ("done", "failed", "cancelled") for s in states.values()):
                    break
                time.sleep(0.1)
            results = {}
            for i, job_id in load.ids.items():
                if jobs[i]["method"] == "reinhard" and job_id not in cancelled:
                    r = c.get(f"{srv.url}/api/jobs/{job_id}/result")
                    results[i] = r.content if r.status_code == 200 else None
        srv.stop()
    finally:
        for s in servers:
            s.kill()
    elapsed = time.monotonic() - start

    # 0 orphans: no worker process of any of the servers is left
    assert _wait_gone(sorted(every_worker), 3.0) == [], "worker processes left behind"
    # only 4xx for bad requests
    bad = [(n, s, b) for n, s, b in answers if not 400 <= s < 500]
    assert not bad, bad
    # 0 lost: every id a client got exists and ended; the rest of the table too
    states = _states(data)
    for i, job_id in load.ids.items():
        if cancelled.get(job_id) == "delete":
            assert job_id not in states
            continue
        assert job_id in states, f"job {i} ({job_id}) lost"
        state, attempts, error = states[job_id]
        if job_id in cancelled:
            assert state in ("cancelled", "done"), (job_id, state)
        else:
            assert state == "done", (i, job_id, state, attempts, error)
    assert all(s[0] in ("done", "cancelled") for s in states.values()), states
    assert len(load.ids) + len(load.unknown) == JOBS
    # 0 run twice: per job, runs one after another, none after a success, at most one success
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        runs: dict[str, list] = {}
        for job_id, started, ended, outcome in db.execute(
                "SELECT job_id, started, ended, outcome FROM runs ORDER BY started"):
            runs.setdefault(job_id, []).append((started, ended, outcome))
    for job_id, rs in runs.items():
        assert sum(o == "done" for _, _, o in rs) <= 1, (job_id, rs)
        for (_, e1, o1), (s2, _, _) in zip(rs, rs[1:]):
            assert e1 is not None and e1 <= s2 and o1 != "done", (job_id, rs)
        if job_id in states and states[job_id][0] == "done":
            assert rs[-1][2] == "done", (job_id, rs)
    assert any(len(rs) > 1 for rs in runs.values()), "no job was interrupted: the chaos did not bite"
    # the right results, nobody else's
    from tinct.registry import get_method

    reinhard = get_method("reinhard")
    for i, png in results.items():
        f = jobs[i]["files"]
        assert png is not None, i
        np.testing.assert_array_equal(decode_png(png), reinhard(f["image"], reference=f["reference"], strength=0.8))
    interrupted = sum(len(rs) > 1 for rs in runs.values())
    print(f"\nchaos: {len(load.ids)} jobs ({len(load.unknown)} cut off mid-submission), {interrupted} run again "
          f"after a kill, {len(cancelled)} cancelled, {len(answers)} hostile requests all 4xx, "
          f"{len(every_worker)} worker processes all gone; {elapsed:.1f} s")
