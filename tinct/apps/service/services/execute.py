"""Running one job: read its uploads, call the registered method, write the result atomically.

:func:`execute` runs inside a worker (a process of the pool, or a thread) and touches nothing
but the job's own directory. It never raises: the outcome is a plain dict that crosses the
process boundary safely.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

from tinct.apps.service.services.store import PROGRESS_NAME, RESULT_NAME

#: Upload roles, the file each is stored in.
ROLES = ("image", "reference", "mask", "reference_mask", "scribbles")


def upload_path(job_dir: Path, role: str) -> Path:
    """Where an upload of ``role`` is kept; the client's file name is never used."""
    if role not in ROLES:
        raise ValueError(f"unknown upload role {role!r}")
    return job_dir / f"{role}.upload"


def method_kwargs(method, pixels: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the method from the side inputs: a transfer's image mask is ``target_mask``."""
    kwargs: dict[str, Any] = {}
    if pixels.get("reference") is not None:
        kwargs["reference"] = pixels["reference"]
    if pixels.get("scribbles") is not None:
        kwargs["scribbles"] = pixels["scribbles"]
    if pixels.get("mask") is not None:
        kwargs["target_mask" if method.kind == "transfer" else "mask"] = pixels["mask"]
    if pixels.get("reference_mask") is not None:
        kwargs["reference_mask"] = pixels["reference_mask"]
    return kwargs


def _report(job_dir: Path, progress: float, stage: str) -> None:
    tmp = job_dir / f".{PROGRESS_NAME}.{os.getpid()}"
    tmp.write_text(json.dumps({"progress": progress, "stage": stage}))
    os.replace(tmp, job_dir / PROGRESS_NAME)


def init_worker() -> None:
    """Pool initializer: import the method modules once per worker process."""
    from tinct.registry import load_methods

    load_methods()


def execute(job_dir: str, method_name: str, params: dict, post: str | None, inputs: list[str],
            max_pixels: int) -> dict:
    """Run one job; return ``{'ok': True, 'timings': {...}}`` or ``{'ok': False, 'error': str}``."""
    from tinct.errors import TinctError

    folder = Path(job_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        from tinct.io import read_image, write_image
        from tinct.registry import get_method

        _report(folder, 0.05, "reading")
        method = get_method(method_name)
        image = read_image(upload_path(folder, "image"), max_pixels=max_pixels)
        side = {role: read_image(upload_path(folder, role), max_pixels=max_pixels).pixels
                for role in inputs if role != "image"}
        t1 = time.perf_counter()
        timings["read_s"] = t1 - t0
        _report(folder, 0.15, "running")
        result = method(image.pixels, **method_kwargs(method, side), **params)
        t2 = time.perf_counter()
        timings["method_s"] = t2 - t1
        if post:
            from tinct.post import apply_post

            _report(folder, 0.85, "post-processing")
            result = apply_post(result, post, keep_lightness_of=image.pixels if method.kind == "colorize" else None)
        t3 = time.perf_counter()
        timings["post_s"] = t3 - t2
        _report(folder, 0.9, "writing")
        write_image(folder / RESULT_NAME, result, like=image, alpha=image.alpha, overwrite=True)
        timings["write_s"] = time.perf_counter() - t3
        timings["run_s"] = time.perf_counter() - t0
        return {"ok": True, "timings": timings}
    except TinctError as exc:
        return {"ok": False, "error": _scrub(str(exc), folder), "timings": timings}
    except MemoryError:
        return {"ok": False, "error": "out of memory; try a smaller image", "timings": timings}
    except Exception as exc:  # noqa: BLE001 - a bug in a method must fail its job, not the worker
        traceback.print_exc()
        return {"ok": False, "error": f"internal error: {type(exc).__name__}: {_scrub(str(exc), folder)}",
                "timings": timings}


def _scrub(message: str, folder: Path) -> str:
    """Replace server paths in a message by the upload role (``.../jobs/<id>/image.upload`` -> ``image``)."""
    for role in ROLES:
        message = message.replace(str(upload_path(folder, role)), role)
    message = message.replace(str(folder / RESULT_NAME), "result")
    return " ".join(message.replace(str(folder), "job").split())
