"""What runs on a Dask worker: one task = one image (or one video), written atomically.

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

import importlib
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
    for module in spec.get("plugins", ()):
        importlib.import_module(module)
    from tinct.apps.cli._run import read_side_input
    from tinct.registry import get_method

    method = get_method(spec["method"])
    inputs = {}
    if spec.get("reference"):
        inputs["reference"] = read_side_input(spec["reference"], spec.get("max_pixels"))
    _WORKER_CACHE.clear()  # one job at a time per worker: keep memory flat
    _WORKER_CACHE[key] = (method, inputs)
    return method, inputs


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
        method, inputs = _setup(spec)
        out = Path(dst)
        if out.exists() and not spec.get("overwrite"):  # written by an earlier attempt of this task
            return {**base, "status": "skipped", "seconds": 0.0}
        out.parent.mkdir(parents=True, exist_ok=True)
        if Path(src).suffix.lower() in _video_suffixes():
            _video(src, out, method, inputs, spec)
        else:
            _image(src, out, method, inputs, spec)
    except MissingWeightsError as exc:  # the same for every file: the client stops the batch and says it once
        return {**base, "status": "failed", "error": str(exc), "fatal": "MissingWeightsError"}
    except TinctError as exc:
        return {**base, "status": "failed", "error": str(exc)}
    except OSError as exc:
        return {**base, "status": "failed", "error": f"{dst}: {exc.strerror or exc}"}
    except Exception as exc:  # a bug in a method must not stop the batch; keep its type in the report
        return {**base, "status": "failed", "error": f"{src}: {type(exc).__name__}: {' '.join(str(exc).split())}"}
    return {**base, "status": "written", "seconds": round(time.perf_counter() - start, 3)}


def _video_suffixes():
    from tinct.video.io import VIDEO_SUFFIXES

    return VIDEO_SUFFIXES


def _image(src, out: Path, method, inputs, spec) -> None:
    from tinct.io import read_image, write_image
    from tinct.post import apply_post

    protect = [src] + ([spec["reference"]] if spec.get("reference") else [])
    image = read_image(src, max_pixels=spec.get("max_pixels"))
    result = method(image.pixels, **inputs, **spec.get("params", {}))
    result = apply_post(result, spec.get("post"), keep_lightness_of=image.pixels if method.kind == "colorize" else None)
    write_image(out, result, like=image, alpha=image.alpha, overwrite=bool(spec.get("overwrite")), protect=protect)


def _video(src, out: Path, method, inputs, spec) -> None:
    from tinct.errors import ParameterError
    from tinct.video import VideoJob, colorize_video

    if method.kind != "colorize":
        raise ParameterError(f"{src}: videos need a colorize method, {method.name!r} is a {method.kind} method")
    job = VideoJob(method, spec.get("params", {}), reference=inputs.get("reference"),
                   reference_path=spec.get("reference"), post=spec.get("post"), **spec.get("video", {}))
    colorize_video(src, out, job, overwrite=bool(spec.get("overwrite")))
