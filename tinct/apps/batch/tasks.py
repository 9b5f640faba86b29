"""What runs on a Dask worker: one task = a few images (or one video), each written atomically.

Each worker process keeps a cache (:data:`_WORKER_CACHE`) of the method object
and the side inputs (reference image), so they are read once per worker and not
once per task; models are cached per process by the methods themselves (the CNN
methods through :func:`tinct.models.loading.get_runner`), which on a Dask worker
means once per worker.

A task never raises for a bad input: it returns a result dict with
``status`` = ``'written'``, ``'skipped'`` or ``'failed'`` (with the one-line
error), so one bad file never stops a batch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

_WORKER_CACHE: dict[str, Any] = {}


def _setup(spec: dict):
    """Method and side inputs for ``spec``, from this worker's cache when already loaded."""
    key = repr((spec["method"], spec.get("reference"), spec.get("max_pixels"), tuple(spec.get("plugins", ()))))
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


def process_file(src: str, dst: str, spec: dict) -> dict:
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
    """:func:`process_file` for each ``(src, dst)`` of ``items``, in order, in one task.

    The job (method, side inputs, model) is set up once per worker process and reused by every
    file of every task (:func:`_setup`); one bad file never stops the others.
    """
    return [process_file(src, dst, spec) for src, dst in items]


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
