"""Run one registered method over input files and write the results: shared by transfer and colorize."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinct.apps.cli._common import progress
from tinct.errors import MissingWeightsError, ParameterError, TinctError
from tinct.post import apply_post
from tinct.registry import Method


@dataclass
class Job:
    """What a CLI run does to every input: method, parameters and the side inputs."""

    method: Method
    params: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)  # reference=, target_mask=, scribbles=, ...
    post: str | None = None
    max_pixels: int | None = None
    overwrite: bool = False


def read_side_input(path: str | None, max_pixels: int | None):
    """Pixels of a reference / mask / scribble image given on the command line, or None."""
    if path is None:
        return None
    from tinct.io import read_image

    return read_image(path, max_pixels=max_pixels).pixels


def check_inputs(method: Method, given: dict[str, Any]) -> None:
    """Refuse early when a method's required input is missing or an unsupported one is given."""
    if method.reference == "required" and given.get("reference") is None:
        raise ParameterError(f"--reference: method {method.name!r} needs a reference image")
    if method.reference == "none" and given.get("reference") is not None:
        raise ParameterError(f"--reference: method {method.name!r} does not use a reference image")
    if method.scribbles == "required" and given.get("scribbles") is None:
        raise ParameterError(f"--scribbles: method {method.name!r} needs a scribble image")
    if method.scribbles == "none" and given.get("scribbles") is not None:
        raise ParameterError(f"--scribbles: method {method.name!r} does not use scribbles")
    masks = [k for k in ("mask", "target_mask", "reference_mask") if given.get(k) is not None]
    if masks and not method.mask:
        raise ParameterError(f"--{masks[0].replace('_', '-')}: method {method.name!r} does not use masks")


def run_files(job: Job, files: list[Path], outputs: list[Path], show_progress: bool) -> tuple[list[dict], list[dict]]:
    """Process each file; one bad file is reported and never stops the others.

    Returns (done, failed) lists of dicts for the summary.
    """
    from tinct.io import check_output_path, read_image, write_image

    protect = [f for f in files] + [Path(p) for p in job.inputs.get("_paths", [])]
    kwargs = {k: v for k, v in job.inputs.items() if not k.startswith("_") and v is not None}
    done: list[dict] = []
    failed: list[dict] = []
    for src, dst in progress(list(zip(files, outputs)), len(files), job.method.name, show_progress):
        start = time.perf_counter()
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            check_output_path(dst, overwrite=job.overwrite, protect=protect)
            image = read_image(src, max_pixels=job.max_pixels)
            result = job.method(image.pixels, **kwargs, **job.params)
            result = apply_post(result, job.post, keep_lightness_of=image.pixels if job.method.kind == "colorize" else None)
            write_image(dst, result, like=image, alpha=image.alpha, overwrite=job.overwrite, protect=protect)
        except MissingWeightsError:
            raise  # the same for every file: say it once, not once per file
        except TinctError as exc:
            failed.append({"input": str(src), "error": str(exc)})
            continue
        except OSError as exc:  # e.g. an output folder that cannot be created
            failed.append({"input": str(src), "error": f"{dst}: {exc.strerror or exc}"})
            continue
        done.append({"input": str(src), "output": str(dst), "seconds": round(time.perf_counter() - start, 3)})
    return done, failed
