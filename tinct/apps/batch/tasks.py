"""What runs on a Dask worker: one task = a few images (or one video), each written atomically.

Each worker process keeps a cache (:data:`_WORKER_CACHE`) of the method object
and the side inputs (reference image), so they are read once per worker and not
once per task; models are cached per process by the methods themselves (the CNN
methods through :func:`tinct.models.loading.get_runner`), which on a Dask worker
means once per worker.

A task never raises for a bad input: it returns a result dict with
``status`` = ``'written'``, ``'skipped'`` or ``'failed'`` (with the one-line
error), so one bad file never stops a batch.

Within a task, reading and writing overlap the computation (:func:`process_files`):
two files are in flight, each going through :func:`tinct.pipeline.run_file` on its
own thread, and a per-task lock lets only one of them run the method at a time. So
while file *k* is computed, file *k+1* is read and decoded and file *k-1* encoded and
written (PNG compression and ``fsync`` are a fifth of a 1 MP file's time); the
computation itself keeps one thread per Dask thread (workers x threads = cores), and
memory holds about two images per task. ``TINCT_BATCH_PREFETCH=0`` in the workers'
environment switches the overlap off (files one after another, as before), for
comparison.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_WORKER_CACHE: dict[str, Any] = {}
# Dask threads of one worker, and the two threads of a task, may ask for the job at once: load it once.
_SETUP_LOCK = threading.Lock()

#: Files of one task in flight at once: one computing, one being read or written.
IN_FLIGHT = 2


def prefetch_enabled() -> bool:
    """Whether tasks overlap reading and writing with the computation (``TINCT_BATCH_PREFETCH``, default on)."""
    return os.environ.get("TINCT_BATCH_PREFETCH", "1").strip().lower() not in ("0", "false", "no", "off")


def _setup(spec: dict):
    """Method and side inputs for ``spec``, from this worker's cache when already loaded."""
    # Everything make_job reads: a long-lived cluster (--scheduler) serves batches with other parameters.
    key = repr((spec["method"], spec.get("params"), spec.get("reference"), spec.get("post"), spec.get("max_pixels"),
                bool(spec.get("overwrite")), tuple(spec.get("plugins", ()))))
    with _SETUP_LOCK:
        return _setup_locked(spec, key)


def _setup_locked(spec: dict, key: str):
    hit = _WORKER_CACHE.get(key)
    if hit is not None:
        return hit
    from tinct.pipeline import make_job
    from tinct.registry import get_method, load_plugin

    for module in spec.get("plugins", ()):
        load_plugin(module)
    method = get_method(spec["method"])
    job = make_job(method, method.kind, inputs={"reference": spec.get("reference")}, params=spec.get("params", {}),
                   post=spec.get("post"), max_pixels=spec.get("max_pixels"), overwrite=bool(spec.get("overwrite")))
    _WORKER_CACHE.clear()  # one job at a time per worker: keep memory flat
    _WORKER_CACHE[key] = job
    return job


def _gated(job, gate: threading.Lock):
    """``job`` whose method runs only while holding ``gate``: the same method (name, inputs, parameters,
    provenance), its function wrapped, so :func:`tinct.pipeline.run_file` stays the one path from file to file."""
    func = job.method.func

    def run(*args, **kwargs):
        with gate:
            return func(*args, **kwargs)

    return dataclasses.replace(job, method=dataclasses.replace(job.method, func=run))


def process_file(src: str, dst: str, spec: dict, *, gate: threading.Lock | None = None) -> dict:
    """Run ``spec``'s method on the file ``src`` and write ``dst``; never raises for a bad input.

    Parameters
    ----------
    src, dst : str
        Input file and output path (its folder is created).
    spec : dict
        ``method`` (name), ``params`` (validated dict), ``reference`` (path or None),
        ``post``, ``max_pixels``, ``overwrite``, ``plugins`` (modules to import
        first, for methods registered outside tinct) and ``video`` (options of
        :class:`tinct.video.VideoJob` for video files).
    gate : threading.Lock, optional
        Held while the method runs (not while reading or writing); :func:`process_files`
        shares one between the files of a task so that only one computes at a time.

    Returns
    -------
    dict
        ``input``, ``output``, ``status`` and ``seconds``, ``worker`` (process id)
        or ``error``.
    """
    from tinct.errors import MissingWeightsError, TinctError

    start = time.perf_counter()
    base = {"input": src, "output": dst, "worker": os.getpid()}
    try:
        job = _setup(spec)
        if gate is not None:
            job = _gated(job, gate)
        out = Path(dst)
        if out.exists() and not spec.get("overwrite"):  # written by an earlier attempt of this task
            return {**base, "status": "skipped", "seconds": 0.0}
        out.parent.mkdir(parents=True, exist_ok=True)
        if Path(src).suffix.lower() in _video_suffixes():
            _video(src, out, job, spec)
        else:
            from tinct.pipeline import run_file

            run_file(job, src, out)
    except MissingWeightsError as exc:  # the same for every file: the client stops the batch and says it once
        return {**base, "status": "failed", "error": str(exc), "fatal": "MissingWeightsError"}
    except TinctError as exc:
        return {**base, "status": "failed", "error": str(exc)}
    except OSError as exc:
        return {**base, "status": "failed", "error": f"{dst}: {exc.strerror or exc}"}
    except Exception as exc:  # a bug in a method must not stop the batch; keep its type in the report
        return {**base, "status": "failed", "error": f"{src}: {type(exc).__name__}: {' '.join(str(exc).split())}"}
    return {**base, "status": "written", "seconds": round(time.perf_counter() - start, 3)}


def process_files(items: list, spec: dict) -> list[dict]:
    """:func:`process_file` for each ``(src, dst)`` of ``items`` in one task; results in the order of ``items``.

    The job (method, side inputs, model) is set up once per worker process and reused by every
    file of every task (:func:`_setup`); one bad file never stops the others.

    Reading and writing overlap the computation: :data:`IN_FLIGHT` files go through
    :func:`process_file` at once on a thread pool, and a lock shared by the task lets one run the
    method at a time (see the module docstring). Each output is still written atomically, by the
    thread that made it. If the task is interrupted (an exception that is not about one file, such
    as ``KeyboardInterrupt``), files not started are cancelled, the one in flight beside it finishes
    its atomic write, and the exception is raised.
    """
    if len(items) < 2 or not prefetch_enabled():  # nothing to overlap (a video is a task of its own)
        return [process_file(src, dst, spec) for src, dst in items]
    gate = threading.Lock()
    pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="tinct-batch-io")
    try:
        # The pool runs IN_FLIGHT files at a time and takes the next in order, so at most two images
        # (one decoded, one computed or being encoded) are held per task.
        futures = [pool.submit(process_file, src, dst, spec, gate=gate) for src, dst in items]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _video_suffixes():
    from tinct.video.io import VIDEO_SUFFIXES

    return VIDEO_SUFFIXES


def _video(src, out: Path, job, spec) -> None:
    from tinct.errors import ParameterError
    from tinct.video import VideoJob, colorize_video

    if job.kind != "colorize":
        raise ParameterError(f"{src}: videos need a colorize method, {job.method.name!r} is a {job.kind} method")
    vjob = VideoJob(job.method, job.params, reference=job.inputs.get("reference"),
                    reference_path=spec.get("reference"), post=job.post, **spec.get("video", {}))
    colorize_video(src, out, vjob, overwrite=job.overwrite, max_pixels=job.max_pixels)
