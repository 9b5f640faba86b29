"""The worker pool: jobs run off the request path, ``workers`` at a time, each slot in a process of its own.

Each of the ``workers`` *slots* is a supervisor thread in the server and, with the ``process``
executor, one worker process (``spawn``ed, methods imported once). The supervisor claims the
oldest queued job from the store (which gives it a lease naming the worker process), sends it to
its worker through a pipe and waits for the outcome, the job's deadline, a cancel, or the worker's
death:

- The worker runs the job (:func:`~tinct.apps.service.services.execute.execute`), renews the lease
  every second while it runs, and records the outcome in the store itself, guarded by the lease.
- A cancel (:meth:`WorkerPool.abort`) or a job over ``job_timeout_s`` kills the slot's worker
  (SIGKILL: a method in native code cannot be interrupted otherwise) and the slot starts a new one.
- A worker that dies (out of memory, a crash in native code, killed) costs only the job it was
  running an attempt: it is queued again until it has had ``max_attempts`` starts, then failed
  with the reason. Other slots never notice.

Workers die with the server: each asks the kernel for SIGKILL when its parent goes
(``PR_SET_PDEATHSIG``, Linux), and a watchdog thread in it exits as soon as its parent process
changes (every system). A worker that survives anyway keeps its lease alive and records its own
outcome, and a restarted server leaves its job alone until it is gone (:meth:`JobStore.reap`).

With the ``thread`` executor (tests, development) jobs run in threads of the server; a cancelled
or timed-out job is abandoned (its late outcome is discarded by the lease), not stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
import time
from typing import Any

from tinct.apps.service.services import execute as _execute
from tinct.apps.service.services.store import RENEW_S, Holder, JobStore
from tinct.apps.service.settings import Settings, load_plugins

log = logging.getLogger("tinct.apps.service")

DIED = ("the worker process died on each of its {attempts} attempts "
        "(out of memory, a crash in the method, or killed)")
READY_TIMEOUT_S = 300.0  # first imports of a cold machine (torch, numba caches) can be slow


# ---------------------------------------------------------------------------------------------- one run
class Heartbeat:
    """Renew a job's lease every :data:`RENEW_S` in a background thread; call ``on_lost`` if it is gone."""

    def __init__(self, store: JobStore, job_id: str, lease: str, on_lost=None):
        self.store, self.job_id, self.lease, self.on_lost = store, job_id, lease, on_lost
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"tinct-lease-{job_id[:6]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()

    def _beat(self) -> None:
        while not self.done.wait(RENEW_S):
            try:
                held = self.store.renew(self.job_id, self.lease)
            except Exception:  # noqa: BLE001 - a busy database: try again next beat
                continue
            if not held and not self.done.is_set():
                if self.on_lost is not None:
                    self.on_lost()
                return


def run_job(store: JobStore, job: dict, max_pixels: int, on_lost=None) -> str:
    """Run one claimed job and record its outcome under its lease; return ``'done'``, ``'failed'`` or ``'lost'``.

    ``on_lost`` is called (from the heartbeat thread) when the lease is taken away while the job
    runs: a worker process exits there and then.
    """
    job_id, lease = job["id"], job["lease"]
    if not store.holds(job_id, lease):
        return "lost"  # cancelled between the claim and here
    queued_s = max(0.0, (job["started"] or time.time()) - job["created"])
    with Heartbeat(store, job_id, lease, on_lost):
        outcome = _execute.execute(str(store.job_dir(job_id)), job["method"], job["params"], job["post"],
                                   job["inputs"], max_pixels)
    timings = {"queue_s": queued_s, **outcome.get("timings", {})}
    timings["total_s"] = time.time() - job["created"]
    timings = {k: round(float(v), 4) for k, v in timings.items()}
    if outcome.get("ok"):
        return "done" if store.finish(job_id, timings, lease=lease) else "lost"
    return "failed" if store.fail(job_id, outcome.get("error") or "failed", timings, lease=lease) else "lost"


# ---------------------------------------------------------------------------------------------- worker process
def _tie_to_parent(parent_pid: int) -> None:
    """Die with the server: PR_SET_PDEATHSIG where there is one, and a watchdog thread everywhere."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except Exception:  # noqa: BLE001 - the watchdog below still holds
            pass
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)

    def watch():
        while True:
            time.sleep(0.2)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="tinct-parent-watch", daemon=True).start()


def _limit_memory(megabytes: int) -> None:
    """Bound the memory a worker may allocate: ``RLIMIT_DATA`` on Linux (private writable memory, which
    leaves address-space reservations such as CUDA's alone), ``RLIMIT_AS`` elsewhere."""
    if megabytes <= 0:
        return
    try:
        import resource

        which = resource.RLIMIT_DATA if sys.platform.startswith("linux") else resource.RLIMIT_AS
        limit = megabytes * 1024 * 1024
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(which, (limit, hard))
    except (ImportError, ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX, or not allowed
        pass


def worker_main(conn, parent_pid: int, data_dir: str, memory_mb: int, max_pixels: int,
                plugins: tuple[str, ...] = ()) -> None:
    """Body of a worker process: wait for jobs on ``conn``, run each, report ``('done', id, outcome)``."""
    _tie_to_parent(parent_pid)
    # Ctrl-C in a terminal and a service manager's SIGTERM reach the whole process group: the server
    # decides what happens to running jobs, and kills its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _limit_memory(memory_mb)
    _execute.init_worker()
    load_plugins(plugins)
    store = JobStore(data_dir)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            break
        if job is None:
            break
        conn.send(("started", job["id"]))
        result = run_job(store, job, max_pixels, on_lost=lambda: os._exit(0))
        try:
            conn.send(("done", job["id"], result))
        except (BrokenPipeError, OSError):
            break
    store.close()


class _Died(Exception):
    pass


class ProcessRunner:
    """One worker process and the pipe to it."""

    kind = "process"

    def __init__(self, pool: WorkerPool, index: int):
        self.pool, self.index = pool, index
        self.proc = None
        self.conn = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def ready(self) -> bool:
        return self.proc is not None and self.conn is not None

    def start(self) -> bool:
        """Start the worker and wait until it has imported the methods; False if stopped or it failed."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        s = self.pool.settings
        proc = ctx.Process(target=worker_main, name=f"tinct-worker-{self.index}",
                           args=(child, os.getpid(), str(self.pool.store.data_dir), s.memory_limit_mb, s.max_pixels,
                                 s.plugins))
        proc.start()
        child.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not self.pool.stopping:
            try:
                if parent.poll(0.2):
                    msg = parent.recv()
                    if msg[0] == "ready":
                        self.proc, self.conn = proc, parent
                        return True
            except (EOFError, OSError):
                break
            if not proc.is_alive():
                break
        log.error("worker %d: did not start (exit code %s)", self.index, proc.exitcode)
        _kill(proc)
        parent.close()
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def send(self, job: dict) -> None:
        self.conn.send(job)

    def wait(self, timeout: float):
        """The worker's report, None on timeout; raises _Died when the worker is gone."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            raise _Died from None
        if not self.proc.is_alive():
            raise _Died
        return None

    def kill(self) -> None:
        """SIGKILL the worker (from any thread); the supervisor reaps it."""
        proc = self.proc
        if proc is not None and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signal.SIGKILL)

    def reap(self) -> int | None:
        """After a death or a kill: wait for the process, drop it; the next job starts a new one."""
        proc, conn = self.proc, self.conn
        self.proc = self.conn = None
        code = None
        if proc is not None:
            code = _kill(proc)
        if conn is not None:
            conn.close()
        return code

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.kill()
        self.reap()


def _kill(proc) -> int | None:
    with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
        if proc.is_alive():
            proc.kill()
    proc.join(5)
    return proc.exitcode


class ThreadRunner:
    """Jobs in threads of the server (the ``thread`` executor): instant, not isolated, not interruptible."""

    kind = "thread"

    def __init__(self, pool: WorkerPool, index: int):
        self.pool, self.index = pool, index
        self.thread: threading.Thread | None = None
        self.result: list = []
        self.ready = True

    @property
    def pid(self) -> int:
        return os.getpid()

    def start(self) -> bool:
        return True

    def alive(self) -> bool:
        return True

    def send(self, job: dict) -> None:
        self.result = result = []

        def body():
            try:
                result.append(("done", job["id"], run_job(self.pool.store, job, self.pool.settings.max_pixels)))
            except BaseException as exc:  # noqa: BLE001 - report, never kill the server
                log.exception("job %s: the worker thread failed", job["id"])
                result.append(("error", job["id"], repr(exc)))

        self.thread = threading.Thread(target=body, name=f"tinct-job-{self.index}", daemon=True)
        self.thread.start()

    def wait(self, timeout: float):
        t = self.thread
        if t is not None:
            t.join(timeout)
        if self.result:
            msg = self.result[0]
            if msg[0] == "error":
                raise _Died
            return msg
        if t is None or not t.is_alive():
            raise _Died
        return None

    def kill(self) -> None:
        pass  # a thread cannot be stopped: reap() abandons it

    def reap(self) -> None:
        self.thread = None  # abandoned: its late outcome is discarded by the lease
        self.result = []

    def close(self) -> None:
        self.reap()


# ---------------------------------------------------------------------------------------------- slots and pool
class Slot:
    """One supervisor thread and its runner: claims jobs, watches each to its end."""

    def __init__(self, pool: WorkerPool, index: int):
        self.pool, self.index = pool, index
        self.runner = (ThreadRunner if pool.settings.executor == "thread" else ProcessRunner)(pool, index)
        self.lock = threading.Lock()
        self.current: tuple[str, str] | None = None  # (job id, lease)
        self.abort_reason: str | None = None
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._loop, name=f"tinct-slot-{index}", daemon=True)
        self.failures = 0

    @property
    def ready(self) -> bool:
        return self.runner.ready

    def _loop(self) -> None:
        pool = self.pool
        while not pool.stopping:
            try:
                if self.runner.ready and not self.runner.alive():
                    log.warning("worker slot %d: its idle worker died (exit code %s); starting another",
                                self.index, self.runner.reap())
                if not self.runner.ready and not self.runner.start():
                    self.failures += 1
                    pool._stop.wait(min(30.0, 2.0 * self.failures))
                    continue
                self.failures = 0
                job = pool.store.claim(Holder.of(pool.instance, self.runner.pid))
                if job is None:
                    pool._wait()
                    continue
                self._handle(job)
            except Exception:  # noqa: BLE001 - keep the slot alive; e.g. a locked database
                log.exception("worker slot %d: unexpected error", self.index)
                pool._stop.wait(0.5)
        with contextlib.suppress(Exception):
            self.runner.close()

    def _handle(self, job: dict) -> None:
        pool, settings = self.pool, self.pool.settings
        job_id, lease = job["id"], job["lease"]
        with self.lock:
            self.current, self.abort_reason = (job_id, lease), None
            self.idle.clear()
        timeout = settings.job_timeout_s
        deadline = time.monotonic() + timeout if timeout > 0 else None
        started = self.runner.kind == "thread"
        try:
            try:
                self.runner.send(job)
                while True:
                    if self.abort_reason is not None:
                        raise _Died
                    wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
                    msg = self.runner.wait(wait)
                    if msg is not None and msg[0] == "started":
                        started = True
                        continue
                    if msg is not None:
                        return  # the worker recorded the outcome itself
                    if pool.stopping:
                        self.runner.kill()
                        raise _Died
                    if deadline is not None and time.monotonic() >= deadline:
                        deadline = None
                        why = f"timed out: the job ran longer than the limit of {timeout:g} s (--job-timeout)"
                        with self.lock:
                            if not pool.store.fail(job_id, why, lease=lease, outcome="timeout"):
                                continue  # it ended on its own just now: its report is on the way
                            self.abort_reason = "timeout"
                            self.runner.kill()
                        log.warning("job %s: timed out after %g s; its worker is replaced", job_id, timeout)
            except (_Died, OSError, ValueError):
                self._after_death(job_id, lease, started)
        finally:
            with self.lock:
                self.current = None
            self.idle.set()

    def _after_death(self, job_id: str, lease: str, started: bool) -> None:
        pool = self.pool
        reason = self.abort_reason
        if reason is None and self.runner.kind == "process":
            self.runner.kill()  # the pipe broke but the process may live on: never leave it behind
        code = self.runner.reap()
        if reason is not None:
            return  # cancelled or timed out: the store already says so
        if pool.stopping or not started:
            # a shutdown, or a worker that was gone before the job reached it: not the job's fault
            if pool.store.requeue(job_id, count_attempt=False, lease=lease,
                                  outcome="shutdown" if pool.stopping else "not started"):
                pool.notify()
            return
        outcome = pool.store.release(job_id, lease, pool.settings.max_attempts, DIED)
        if outcome is not None:
            log.warning("job %s: its worker died (exit code %s); %s", job_id, code,
                        "queued again" if outcome == "requeued" else "failed")
        if outcome == "requeued":
            pool.notify()

    def abort(self, job_id: str, lease: str | None, reason: str, wait: float) -> bool:
        """Stop the run of ``job_id`` if this slot has it; wait up to ``wait`` s for the worker to be gone."""
        with self.lock:
            if self.current is None or self.current[0] != job_id or (lease is not None and self.current[1] != lease):
                return False
            self.abort_reason = reason
            self.runner.kill()
        self.idle.wait(wait)
        return True


class WorkerPool:
    """Run queued jobs from ``store`` in ``settings.workers`` slots.

    Parameters
    ----------
    store : JobStore
    settings : Settings
    instance : str, optional
        This server's instance id (the leases it hands out carry it); random by default.
    """

    def __init__(self, store: JobStore, settings: Settings, instance: str | None = None):
        self.store = store
        self.settings = settings
        self.instance = instance or secrets.token_hex(8)
        self._wake = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self.slots = [Slot(self, i) for i in range(settings.workers)]

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for slot in self.slots:
            slot.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; workers are killed and jobs still running queued again (not counted as an attempt)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for slot in self.slots:
            slot.runner.kill()
        for slot in self.slots:
            slot.thread.join(timeout)

    def notify(self) -> None:
        """A job was queued: wake one slot."""
        with self._wake:
            self._pending += 1
            self._wake.notify()

    def _wait(self) -> None:
        with self._wake:
            if self._pending == 0:
                self._wake.wait(timeout=1.0)
            self._pending = max(0, self._pending - 1)

    # ------------------------------------------------------------------ control
    def abort(self, job_id: str, lease: str | None = None, reason: str = "cancel", wait: float = 1.5) -> bool:
        """Stop a running job now (its worker is killed and replaced); True if a slot was running it."""
        return any(slot.abort(job_id, lease, reason, wait) for slot in self.slots)

    def status(self) -> dict[str, Any]:
        """Readiness of the slots: how many have a live worker, and their pids."""
        ready = [s for s in self.slots if s.ready]
        return {"slots": len(self.slots), "ready": len(ready), "busy": sum(s.current is not None for s in self.slots),
                "pids": [s.runner.pid for s in ready if s.runner.kind == "process"], "stopping": self.stopping}

    def worker_pids(self) -> list[int]:
        return [p for p in self.status()["pids"] if p]
