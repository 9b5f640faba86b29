"""Colour guidance over HTTP: the ``hints`` and ``regions`` form fields, previews and suggested colours.

Request side (in the server, no pixels): :func:`parse_hints_field` and :func:`parse_regions_field`
read the JSON fields within the same kind of bounds as ``params`` (:mod:`.jsonfield`) and check every
entry with :func:`tinct.colorize.hints.parse_hints` / :func:`~tinct.colorize.hints.parse_colour`, so a
bad entry is a 400 naming it (``hints[3].color: ...``); :func:`check_points` refuses a point outside
the image once the upload's header has given its size.

Worker side (in the quick pool, :mod:`.quick`): :func:`preview` runs the method through the one
pipeline on the image shrunk to at most :data:`PREVIEW_SIDE` pixels (the network still sees its own
input size, so the preview is the full result at a lower resolution); :func:`suggest` asks
:func:`tinct.colorize.suggest_colours`; :func:`check_regions` decodes the region masks of a
submission to refuse an empty one before the job is queued.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from tinct.apps.service.services.jsonfield import JsonFieldError, load

#: Most hints one request may carry: far more than anyone clicks; ``tinct.colorize`` itself takes more.
MAX_HINTS = 10_000
#: Bounds of the ``hints`` field. 10,000 hints written out in full take about 600 kB, and the form
#: parser refuses a text field over 1 MiB anyway.
MAX_HINTS_CHARS = 1_000_000
MAX_GUIDANCE_DEPTH = 4  # a list of objects whose colour may be an [r, g, b] list: 3 levels, one spare
MAX_REGIONS = 16
MAX_REGIONS_CHARS = 16_384
MAX_STRING = 256
#: Longest side of a preview, in pixels.
PREVIEW_SIDE = 512

HINTS_NAME = "hints.json"
REGIONS_NAME = "regions.json"


class GuidanceError(ValueError):
    """A refused field: one line naming the field and the entry."""


# ---------------------------------------------------------------------------------------------- request side
def _long_string(value: Any, where: str) -> None:
    """Refuse strings over :data:`MAX_STRING` anywhere in a parsed field (they would fill error messages)."""
    stack = [(value, where)]
    while stack:
        item, name = stack.pop()
        if isinstance(item, str) and len(item) > MAX_STRING:
            raise GuidanceError(f"{name}: a string longer than {MAX_STRING} characters")
        if isinstance(item, dict):
            for key, v in item.items():
                if len(key) > MAX_STRING:
                    raise GuidanceError(f"{name}: a key longer than {MAX_STRING} characters")
                stack.append((v, f"{name}.{key}"))
        elif isinstance(item, list):
            stack.extend((v, f"{name}[{i}]") for i, v in enumerate(item))


def parse_hints_field(text: str | None) -> list | None:
    """The ``hints`` field as the list the client sent (checked), or None when absent or empty.

    Each entry is ``{"x": col, "y": row, "color": "#rrggbb"[, "radius": r]}`` (or what
    :func:`tinct.colorize.hints.parse_hints` takes); an empty list means no hints.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = load(text, max_chars=MAX_HINTS_CHARS, max_depth=MAX_GUIDANCE_DEPTH, keep_nan=True)
    except JsonFieldError as exc:
        raise GuidanceError(f"hints: {exc}") from None
    if not isinstance(value, list):
        raise GuidanceError(f"hints: expected a JSON list of {{\"x\", \"y\", \"color\"}} objects, got "
                            f"{_json_type(value)}")
    if len(value) > MAX_HINTS:
        raise GuidanceError(f"hints: at most {MAX_HINTS:,} hints, got {len(value):,}")
    _long_string(value, "hints")
    from tinct.colorize.hints import parse_hints
    from tinct.errors import TinctError

    try:
        parse_hints(value, "hints")
    except TinctError as exc:
        raise GuidanceError(str(exc)) from None
    return value or None


def check_points(hints: list | None, width: int, height: int) -> None:
    """Refuse a hint outside a ``width`` x ``height`` image, naming the entry."""
    if not hints:
        return
    from tinct.colorize.hints import check_hints, parse_hints
    from tinct.errors import TinctError

    try:
        check_hints(parse_hints(hints, "hints"), (height, width), "hints")
    except TinctError as exc:
        raise GuidanceError(str(exc)) from None


def parse_regions_field(text: str | None, masks: int) -> list[dict] | None:
    """The ``regions`` field: ``[{"mask": i, "color": "#rrggbb"}, ...]``, ``i`` indexing the ``region_mask`` uploads.

    Returns the regions with each colour written ``#rrggbb``, or None when absent or empty. Every
    upload must be used by a region, so a mask sent by mistake is not silently ignored.
    """
    text = (text or "").strip()
    if not text:
        if masks:
            raise GuidanceError("region_mask: given without a regions field naming its colour")
        return None
    try:
        value = load(text, max_chars=MAX_REGIONS_CHARS, max_depth=MAX_GUIDANCE_DEPTH)
    except JsonFieldError as exc:
        raise GuidanceError(f"regions: {exc}") from None
    if not isinstance(value, list):
        raise GuidanceError(f"regions: expected a JSON list of {{\"mask\", \"color\"}} objects, got "
                            f"{_json_type(value)}")
    if len(value) > MAX_REGIONS:
        raise GuidanceError(f"regions: at most {MAX_REGIONS} regions, got {len(value)}")
    _long_string(value, "regions")
    from tinct.colorize.hints import parse_colour
    from tinct.errors import TinctError

    out, used = [], set()
    for i, entry in enumerate(value):
        name = f"regions[{i}]"
        if not isinstance(entry, dict):
            raise GuidanceError(f"{name}: expected an object {{\"mask\": INDEX, \"color\": \"#rrggbb\"}}")
        unknown = set(entry) - {"mask", "color", "colour"}
        if unknown:
            raise GuidanceError(f"{name}: unknown field {sorted(unknown)[0]!r} (expected mask, color)")
        index = entry.get("mask")
        if isinstance(index, bool) or not isinstance(index, int):
            raise GuidanceError(f"{name}.mask: expected the index of a region_mask upload, got {index!r}")
        if not 0 <= index < masks:
            raise GuidanceError(f"{name}.mask: no region_mask upload {index} (the request has {masks})")
        try:
            rgb = parse_colour(entry.get("color", entry.get("colour")), f"{name}.color")
        except TinctError as exc:
            raise GuidanceError(str(exc)) from None
        used.add(index)
        out.append({"mask": index, "color": "#{:02x}{:02x}{:02x}".format(*(round(c) for c in rgb))})
    unused = sorted(set(range(masks)) - used)
    if unused:
        raise GuidanceError(f"region_mask[{unused[0]}]: no region uses it")
    return out or None


def _json_type(value: Any) -> str:
    return {dict: "an object", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")


# ---------------------------------------------------------------------------------------------- job files
def region_mask_path(folder: Path, index: int) -> Path:
    """Where the ``index``-th ``region_mask`` upload is kept."""
    return Path(folder) / f"region_mask.{int(index)}.upload"


def save_guidance(folder: Path, hints: list | None, regions: list[dict] | None) -> None:
    """Write the job's hints and regions beside its uploads (read back by the worker and by GET)."""
    if hints:
        (Path(folder) / HINTS_NAME).write_text(json.dumps(hints, separators=(",", ":")))
    if regions:
        (Path(folder) / REGIONS_NAME).write_text(json.dumps(regions, separators=(",", ":")))


def load_guidance(folder: Path) -> tuple[list | None, list[dict] | None]:
    """The job's hints and regions as saved (None where it has none)."""
    out = []
    for name in (HINTS_NAME, REGIONS_NAME):
        try:
            out.append(json.loads((Path(folder) / name).read_text()))
        except (OSError, ValueError):
            out.append(None)
    return out[0], out[1]


def pipeline_inputs(folder: Path, hints: list | None, regions: list[dict] | None) -> dict:
    """The pipeline's ``hints`` and ``regions`` inputs: the hint list, (mask file, colour) pairs."""
    out: dict[str, Any] = {}
    if hints:
        out["hints"] = hints
    if regions:
        out["regions"] = [(str(region_mask_path(folder, r["mask"])), r["color"]) for r in regions]
    return out


# ---------------------------------------------------------------------------------------------- worker side
def check_regions(folder: str, regions: list[dict], max_pixels: int) -> None:
    """Decode each region's mask and refuse an empty one (``regions[1]: the mask is empty ...``)."""
    from tinct.colorize.hints import parse_regions

    parse_regions(pipeline_inputs(Path(folder), None, regions)["regions"], "regions", max_pixels=max_pixels)


def _shrink(pixels, side: int):
    """``pixels`` with its longer side at most ``side`` (area averaging), and the scale used."""
    import cv2

    h, w = pixels.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return pixels, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    if pixels.ndim == 3 and small.ndim == 2:  # cv2 drops a single channel
        small = small[..., None]
    return small, scale


def preview(folder: str, method: str, params: dict, hints: list | None, regions: list[dict] | None,
            max_pixels: int, side: int = PREVIEW_SIDE) -> dict:
    """Run ``method`` on the image shrunk to ``side`` with the hints and regions moved to that size.

    Returns ``{"png": bytes, "width": w, "height": h, "timings": {...}}``.
    """
    import time

    import numpy as np

    from tinct.colorize.hints import check_hints, parse_hints, parse_regions
    from tinct.io import read_image
    from tinct.pipeline import make_job, run_array

    t0 = time.perf_counter()
    base = Path(folder)
    image = read_image(base / "image.upload", max_pixels=max_pixels).pixels
    t_read = time.perf_counter()
    h, w = image.shape[:2]
    small, scale = _shrink(image, side)
    sh, sw = small.shape[:2]
    inputs: dict[str, Any] = {}
    if hints:
        points = parse_hints(hints, "hints")
        check_hints(points, (h, w), "hints")
        # pixel centres map to pixel centres; a radius scales with the image
        points[:, 0] = np.clip((points[:, 0] + 0.5) * sw / w - 0.5, 0, sw - 1)
        points[:, 1] = np.clip((points[:, 1] + 0.5) * sh / h - 0.5, 0, sh - 1)
        points[:, 5] *= scale
        inputs["hints"] = points
    if regions:
        pairs = parse_regions(pipeline_inputs(base, None, regions)["regions"], "regions", max_pixels=max_pixels)
        resized = []
        for i, (mask, colour) in enumerate(pairs):
            if mask.shape != (h, w):
                raise _error(f"regions[{i}]: mask size {mask.shape[1]}x{mask.shape[0]} does not match the "
                             f"image's {w}x{h}")
            cover, _ = _shrink(mask.astype(np.float32), side)
            small_mask = cover >= 0.5
            if not small_mask.any():  # a stroke thinner than a preview pixel still counts
                small_mask = cover > 0
            resized.append((small_mask, colour))
        inputs["regions"] = resized
    job = make_job(method, "colorize", inputs=inputs, params=params, max_pixels=max_pixels)
    out = run_array(job, small)
    t_run = time.perf_counter()
    if out.dtype == np.uint16:
        out = (out.astype(np.uint32) * 255 + 32767) // 65535
    elif out.dtype != np.uint8:
        out = np.clip(out.astype(np.float32) * 255 + 0.5, 0, 255)
    out = out.astype(np.uint8, copy=False)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(out)).save(buf, "PNG", compress_level=1)
    t_png = time.perf_counter()
    return {"png": buf.getvalue(), "width": sw, "height": sh,
            "timings": {"read_s": t_read - t0, "method_s": t_run - t_read, "encode_s": t_png - t_run}}


def suggest(folder: str, x: float, y: float, k: int, method: str, hints: list | None, max_pixels: int) -> list[dict]:
    """The ``k`` most likely colours at (x, y): :func:`tinct.colorize.suggest_colours` on the uploaded image."""
    from tinct.colorize import suggest_colours
    from tinct.io import read_image

    image = read_image(Path(folder) / "image.upload", max_pixels=max_pixels).pixels
    return suggest_colours(image, x, y, k=k, method=method, hints=hints)


def _error(message: str):
    from tinct.errors import ParameterError

    return ParameterError(message)
