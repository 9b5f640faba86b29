"""The quick pool: short interactive requests (previews, suggested colours) beside the job workers.

A colour pin must show its effect within about a second, so previews cannot wait in the job queue
behind minutes of other work; nor may a stream of them take the workers from queued jobs. They run
here instead, bounded:

- one request at a time, in one process of its own (``spawn``ed like the job workers, with the same
  memory limit, tied to the server's life, its model kept loaded between requests) using at most
  the cores one job worker gets; with the ``thread`` executor, in the calling thread;
- at most :data:`MAX_WAITING` more requests wait for their turn, each at most :data:`WAIT_S`; beyond
  that the answer is 503 at once;
- a request running longer than :data:`TIMEOUT_S` has its process killed (a fresh one starts with
  the next request) and gets 503, as does a request whose process died (out of memory, a crash).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from tinct.apps.service.settings import Settings, available_cpus, load_plugins

log = logging.getLogger("tinct.apps.service")

MAX_WAITING = 4
WAIT_S = 20.0
TIMEOUT_S = 60.0
READY_TIMEOUT_S = 300.0


class QuickError(Exception):
    """A refused or failed quick request: HTTP ``status`` and a one-line message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------------- the work
def dispatch(name: str, kwargs: dict) -> tuple:
    """Run one request: ``('ok', value)`` or ``('error', message, status)``; never raises."""
    from tinct.apps.service.services import guidance
    from tinct.errors import MissingWeightsError, TinctError

    functions = {"preview": guidance.preview, "suggest": guidance.suggest, "check_regions": guidance.check_regions}
    folder = str(kwargs.get("folder", ""))
    try:
        return ("ok", functions[name](**kwargs))
    except MissingWeightsError as exc:
        return ("error", _scrub(str(exc), folder), 503)
    except TinctError as exc:
        return ("error", _scrub(str(exc), folder), 400)
    except MemoryError:
        return ("error", "out of memory; try a smaller image", 503)
    except Exception as exc:  # noqa: BLE001 - a bug must fail its request, not the process
        log.exception("quick request %s failed", name)
        return ("error", f"internal error: {type(exc).__name__}: {_scrub(str(exc), folder)}", 500)


def _scrub(message: str, folder: str) -> str:
    """Server paths out of a message: ``.../tmp/x/image.upload`` -> ``image``."""
    if folder:
        for role in ("image", "region_mask"):
            message = message.replace(f"{folder}/{role}.upload", role)
        message = message.replace(folder + "/", "").replace(folder, "request")
    return " ".join(message.replace(".upload", "").split())


def quick_main(conn, parent_pid: int, memory_mb: int, threads: int, plugins: tuple[str, ...]) -> None:
    """Body of the quick process: answer requests on ``conn`` one at a time."""
    from tinct.apps.service.services.workers import _limit_memory, _tie_to_parent

    _tie_to_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _limit_memory(memory_mb)
    from tinct.registry import load_methods

    load_methods()
    load_plugins(plugins)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # a server without the cnn extra: previews will say so
        pass
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        name, kwargs = msg
        try:
            conn.send(dispatch(name, kwargs))
        except (BrokenPipeError, OSError):
            break


# ---------------------------------------------------------------------------------------------- the pool
class QuickPool:
    """Runs quick requests one at a time, a few waiting (module docstring)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.threads = max(1, available_cpus() // max(1, settings.workers))
        self._turn = threading.Lock()
        self._admitted = threading.BoundedSemaphore(MAX_WAITING + 1)
        self._proc = None
        self._conn = None
        self._stopping = False
        # The process is started by a thread of its own that lives as long as the process: Linux delivers
        # PR_SET_PDEATHSIG when the *thread* that forked the child ends, and the request threads that need
        # the process first are pool threads that end when idle.
        self._owner: threading.Thread | None = None
        self._want = threading.Event()
        self._spawned = threading.Event()
        self._child = None

    def call(self, name: str, what: str, timeout: float = TIMEOUT_S, **kwargs) -> Any:
        """Run ``name(**kwargs)`` in turn; its value, or :class:`QuickError` (``what`` names the request)."""
        if self._stopping:
            raise QuickError(f"{what}: the server is shutting down", 503)
        if not self._admitted.acquire(blocking=False):
            raise QuickError(f"{what}: {MAX_WAITING} requests are waiting already; try again shortly", 503)
        try:
            if not self._turn.acquire(timeout=WAIT_S):
                raise QuickError(f"{what}: the server is busy with other previews; try again shortly", 503)
            try:
                if self.settings.executor == "thread":
                    answer = dispatch(name, kwargs)
                else:
                    answer = self._in_process(name, kwargs, what, timeout)
            finally:
                self._turn.release()
        finally:
            self._admitted.release()
        if answer[0] == "ok":
            return answer[1]
        message = answer[1]
        raise QuickError(message if message.startswith(f"{what}:") or ":" in message.split(" ", 1)[0]
                         else f"{what}: {message}", answer[2])

    def _in_process(self, name: str, kwargs: dict, what: str, timeout: float) -> tuple:
        if self._conn is None:
            self._start(what)
        try:
            self._conn.send((name, kwargs))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._conn.poll(0.1):
                    return self._conn.recv()
                if not self._proc.is_alive():
                    raise EOFError
        except (EOFError, OSError, BrokenPipeError):
            code = self._reap()
            log.warning("quick process died (exit code %s) during a %s request", code, name)
            return ("error", f"{what}: the preview process died (out of memory, or a crash); try a smaller "
                             "image", 503)
        self._reap()
        log.warning("quick request %s took over %g s; its process was replaced", name, timeout)
        return ("error", f"{what}: took longer than {timeout:g} s; try a smaller image", 503)

    def _own(self) -> None:
        """Body of the owner thread: start the process when asked, then stay until it has ended."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        s = self.settings
        while not self._stopping:
            self._want.wait()
            self._want.clear()
            if self._stopping:
                break
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=quick_main, name="tinct-quick", daemon=True,
                               args=(child, os.getpid(), s.memory_limit_mb, self.threads, s.plugins))
            try:
                proc.start()
            except Exception:  # noqa: BLE001 - reported to the request as "did not start"
                log.exception("quick process: start failed")
                parent.close()
                child.close()
                self._child = None
                self._spawned.set()
                continue
            child.close()
            self._child = (proc, parent)
            self._spawned.set()
            proc.join()  # this thread must outlive the process (PR_SET_PDEATHSIG)

    def _start(self, what: str) -> None:
        if self._owner is None or not self._owner.is_alive():
            self._owner = threading.Thread(target=self._own, name="tinct-quick-owner", daemon=True)
            self._owner.start()
        self._spawned.clear()
        self._want.set()
        if not self._spawned.wait(30.0) or self._child is None:
            raise QuickError(f"{what}: the preview process did not start", 503)
        proc, parent = self._child
        self._child = None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not self._stopping:
            try:
                if parent.poll(0.2) and parent.recv()[0] == "ready":
                    self._proc, self._conn = proc, parent
                    log.info("quick process %d ready", proc.pid)
                    return
            except (EOFError, OSError):
                break
            if not proc.is_alive():
                break
        from tinct.apps.service.services.workers import _kill

        _kill(proc)
        parent.close()
        raise QuickError(f"{what}: the preview process did not start", 503)

    def _reap(self) -> int | None:
        from tinct.apps.service.services.workers import _kill

        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        return _kill(proc) if proc is not None else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        """Kill the quick process (a request in flight gets 503)."""
        self._stopping = True
        self._want.set()  # the owner thread ends
        proc = self._proc
        if proc is not None and proc.pid is not None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.join(5)
