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

from tinct.apps.service.services.store import PROGRESS_NAME, RESULT_NAME

#: Upload roles, the file each is stored in.
ROLES = ("image", "reference", "mask", "reference_mask", "scribbles")


def upload_path(job_dir: Path, role: str) -> Path:
    """Where an upload of ``role`` is kept; the client's file name is never used."""
    if role not in ROLES:
        raise ValueError(f"unknown upload role {role!r}")
    return job_dir / f"{role}.upload"


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
        from tinct.apps.service.services.guidance import load_guidance, pipeline_inputs
        from tinct.pipeline import make_job, run_file

        given = {role: upload_path(folder, role) for role in inputs if role != "image"}
        given.update(pipeline_inputs(folder, *load_guidance(folder)))  # hints.json, regions.json: colour guidance
        job = make_job(method_name, _kind(method_name), params=params, post=post, max_pixels=max_pixels,
                       overwrite=True, inputs=given)
        record = run_file(job, upload_path(folder, "image"), folder / RESULT_NAME,
                          stage=lambda progress, stage: _report(folder, progress, stage))
        timings.update(record["timings"])
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


def _kind(method_name: str) -> str:
    from tinct.registry import get_method

    return get_method(method_name).kind


def _scrub(message: str, folder: Path) -> str:
    """Replace server paths in a message by the upload role (``.../jobs/<id>/image.upload`` -> ``image``)."""
    for role in ROLES:
        message = message.replace(str(upload_path(folder, role)), role)
    message = message.replace(str(folder / RESULT_NAME), "result")
    for mask in folder.glob("region_mask.*.upload"):
        message = message.replace(str(mask), f"region_mask[{mask.name.split('.')[1]}]")
    return " ".join(message.replace(str(folder), "job").split())
