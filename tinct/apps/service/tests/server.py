"""Start a real ``tinct serve`` (uvicorn) on 127.0.0.1 in a subprocess, for browser, load and restart tests.

Also used by ``benchmarks/service_load.py``.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SERVE = "import sys; from tinct.apps.cli import main; sys.exit(main(sys.argv[1:]))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``tinct serve`` subprocess; ``url`` is its base address.

    Parameters
    ----------
    data_dir : Path
    args : list of str
        Extra ``tinct serve`` options (``--workers 2`` ...).
    log : Path, optional
        Where its stdout and stderr go.
    """

    def __init__(self, data_dir: Path, args: list[str] = (), log: Path | None = None, port: int | None = None,
                 env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.env = dict(env or {})
        self.log = Path(log) if log else self.data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Server:
        import httpx

        cmd = [sys.executable, "-c", SERVE, "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--log-level", "warning", *self.args]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        self._logfile = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._logfile, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout} s; log: {self.log.read_text()[-2000:]}")

    def kill_server_only(self) -> None:
        """SIGKILL the server process alone (a crash of the server); its workers must go by themselves."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def worker_pids(self) -> list[int]:
        """The server's worker processes (Linux /proc): its children started by multiprocessing's spawn_main."""
        return worker_pids(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL the whole process group (server and its worker processes): a crash, not a shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        """SIGTERM: uvicorn's graceful shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            try:  # worker processes left behind, if any
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._close()

    def _close(self) -> None:
        f = getattr(self, "_logfile", None)
        if f is not None and not f.closed:
            f.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def worker_pids(server_pid: int) -> list[int]:
    """Children of ``server_pid`` started by multiprocessing's ``spawn_main`` (Linux /proc)."""
    out = []
    try:
        kids = set()
        for task in Path(f"/proc/{server_pid}/task").iterdir():
            kids.update((task / "children").read_text().split())
    except OSError:
        return []
    for k in kids:
        try:
            if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes():
                out.append(int(k))
        except OSError:
            continue
    return sorted(out)


def spawned_by(marker: str) -> list[int]:
    """Every live process whose command line holds ``marker`` (zombies excluded): finds orphaned workers."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_bytes().rpartition(b")")[2].split()[0]
                if state not in (b"Z", b"X"):
                    out.append(int(entry.name))
        except OSError:
            continue
    return sorted(out)


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def run_jobs(url: str, jobs: list[dict], clients: int = 8, poll: float = 0.05, timeout: float = 120.0,
             headers: dict | None = None) -> list[dict]:
    """Submit ``jobs`` from ``clients`` concurrent HTTP clients; each client polls its own jobs to the end.

    Each job is ``{'files': {role: bytes}, 'method': str, 'params': dict}``. Returns, in input order,
    ``{'id', 'state', 'error', 'latency_s' (submit to result downloaded), 'result' (PNG bytes or None)}``.
    """
    import json
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def one(client: httpx.Client, job: dict) -> dict:
        start = time.perf_counter()
        files = {role: (f"{role}.png", data, "application/octet-stream") for role, data in job["files"].items()}
        for _ in range(100):  # a busy server says when to come back (429, 503 with Retry-After)
            r = client.post(url + "/api/jobs", files=files,
                            data={"method": job["method"], "params": json.dumps(job.get("params", {}))})
            if r.status_code not in (429, 503) or "retry-after" not in r.headers:
                break
            time.sleep(min(5.0, float(r.headers["retry-after"])))
        r.raise_for_status()
        job_id = r.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            status = client.get(f"{url}/api/jobs/{job_id}").json()
            if status["state"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(poll)
        result = client.get(f"{url}{status['result_url']}").content if status["state"] == "done" else None
        return {"id": job_id, "state": status["state"], "error": status["error"], "result": result,
                "latency_s": time.perf_counter() - start, "timings": status["timings"]}

    def worker(indices: list[int]) -> list[tuple[int, dict]]:
        with httpx.Client(timeout=60.0, headers=headers) as client:
            return [(i, one(client, jobs[i])) for i in indices]

    shards = [list(range(k, len(jobs), clients)) for k in range(clients)]
    out: list[dict | None] = [None] * len(jobs)
    with ThreadPoolExecutor(clients) as pool:
        for part in pool.map(worker, shards):
            for i, res in part:
                out[i] = res
    return out  # type: ignore[return-value]
