"""The worker pool: jobs run off the request path, ``workers`` at a time.

``workers`` dispatcher threads each claim the oldest queued job from the store, hand it to an
executor (a :class:`~concurrent.futures.ProcessPoolExecutor` started with ``spawn``, or a thread
pool) and record the outcome. If a worker process dies (out of memory, a crash in native code)
its job is queued again until it has had ``max_attempts`` starts, then failed with the reason;
the pool is rebuilt. On a clean shutdown, jobs still running are queued again without counting
the attempt; after a kill, :meth:`JobStore.recover` does the same on the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tinct.apps.service.services.execute import execute, init_worker
from tinct.apps.service.services.store import JobStore
from tinct.apps.service.settings import Settings

log = logging.getLogger("tinct.apps.service")


class WorkerPool:
    """Run queued jobs from ``store`` with ``settings.workers`` workers.

    Parameters
    ----------
    store : JobStore
    settings : Settings
    """

    def __init__(self, store: JobStore, settings: Settings):
        self.store = store
        self.settings = settings
        self._wake = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._executor: Executor | None = None
        self._generation = 0
        self._executor_lock = threading.Lock()
        self._running: dict[str, int] = {}  # job id -> executor generation

    # ------------------------------------------------------------------ lifecycle
    def _new_executor(self) -> Executor:
        n = self.settings.workers
        if self.settings.executor == "thread":
            return ThreadPoolExecutor(max_workers=n, thread_name_prefix="tinct-job")
        import multiprocessing

        return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker)

    def start(self) -> None:
        self._executor = self._new_executor()
        if isinstance(self._executor, ProcessPoolExecutor):
            # start the worker processes (and their imports) now, not on the first job's clock
            for _ in range(self.settings.workers):
                self._executor.submit(init_worker)
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._loop, name=f"tinct-dispatch-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; jobs still running are queued again (not counted as an attempt)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        with self._executor_lock:
            executor = self._executor
        if executor is not None:
            procs = list((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for proc in procs:  # a running method cannot be cancelled: end its process; the job is queued again
                proc.terminate()
        for t in self._threads:
            t.join(timeout)
        for job_id in list(self._running):
            self.store.requeue(job_id, count_attempt=False)

    def notify(self) -> None:
        """A job was queued: wake one dispatcher."""
        with self._wake:
            self._pending += 1
            self._wake.notify()

    # ------------------------------------------------------------------ work
    def _wait(self) -> None:
        with self._wake:
            if self._pending == 0:
                self._wake.wait(timeout=1.0)
            self._pending = max(0, self._pending - 1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim()
            except Exception:  # noqa: BLE001 - e.g. a locked database: try again shortly
                log.exception("claiming a job failed")
                time.sleep(0.5)
                continue
            if job is None:
                self._wait()
                continue
            self._run(job)

    def _run(self, job: dict) -> None:
        job_id = job["id"]
        with self._executor_lock:
            executor, generation = self._executor, self._generation
        self._running[job_id] = generation
        queued_s = max(0.0, (job["started"] or time.time()) - job["created"])
        try:
            future = executor.submit(execute, str(self.store.job_dir(job_id)), job["method"], job["params"],
                                     job["post"], job["inputs"], self.settings.max_pixels)
            outcome = future.result()
        except (BrokenProcessPool, RuntimeError) as exc:
            if self._stop.is_set():
                return  # shutting down: stop() queues it again
            self._rebuild(generation)
            if job["attempts"] < self.settings.max_attempts:
                log.warning("job %s: worker process died (%s); queued again", job_id, type(exc).__name__)
                self.store.requeue(job_id)
                self.notify()
            else:
                self.store.fail(job_id, f"the worker process died on each of its {job['attempts']} attempts "
                                        "(out of memory or a crash in the method)")
            self._running.pop(job_id, None)
            return
        self._running.pop(job_id, None)
        timings = {"queue_s": queued_s, **outcome.get("timings", {})}
        timings["total_s"] = time.time() - job["created"]
        timings = {k: round(float(v), 4) for k, v in timings.items()}
        if outcome["ok"]:
            self.store.finish(job_id, timings)
        else:
            self.store.fail(job_id, outcome["error"], timings)

    def _rebuild(self, generation: int) -> None:
        with self._executor_lock:
            if generation != self._generation or self._stop.is_set():
                return  # another dispatcher already rebuilt it
            old = self._executor
            self._executor = self._new_executor()
            self._generation += 1
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
