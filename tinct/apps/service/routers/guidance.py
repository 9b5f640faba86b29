"""``/api/suggest`` and ``/api/preview``: what a colour pin would do, answered within about a second.

Both take the image as an upload (like a submission, checked from its header, never decoded in
the server) and run in the quick pool (:mod:`~tinct.apps.service.services.quick`): one at a time,
a few waiting, beside the job workers and never in their place. They obey the same token, body,
pixel, parameter-cap and rate limits as ``POST /api/jobs`` (the rate limit counts them apart from
submissions), and answer bad input with a 400 naming the field.
"""

from __future__ import annotations

import math
import shutil

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from tinct.apps.service.deps import get_settings, get_store, require_token
from tinct.apps.service.routers.jobs import (
    _bad,
    _save,
    check_fields,
    declares,
    form_method,
    parse_guidance,
    parse_params,
    quick_call,
    save_region_masks,
)
from tinct.apps.service.schemas import Error, Suggestion
from tinct.apps.service.services import guidance
from tinct.apps.service.services.execute import upload_path
from tinct.apps.service.services.uploads import UploadError, probe
from tinct.registry import Method

router = APIRouter(tags=["guidance"], dependencies=[Depends(require_token)])

SUGGEST_FIELDS = ("image", "method", "x", "y", "k", "hints")
PREVIEW_FIELDS = ("image", "method", "params", "hints", "regions", "region_mask")
_ERRORS = {400: {"model": Error}, 401: {"model": Error}, 413: {"model": Error}, 415: {"model": Error},
           429: {"model": Error}, 503: {"model": Error}}


def _fields(allowed: tuple[str, ...]):
    async def check(request: Request) -> None:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            raise _bad(f"request: expected a multipart/form-data body (fields {', '.join(allowed)})", 415)
        check_fields(await request.form(), allowed)
    return check


def _hint_method(name: str) -> Method:
    """A method that takes colour hints (``auto``, ``siggraph17``, or a plugin's)."""
    meth = form_method(name)
    if not declares(meth, "hints"):
        raise _bad(f"method: {meth.name!r} takes no colour hints; use auto or siggraph17")
    return meth


def _number(text: str, name: str) -> float:
    text = (text or "").strip()
    if not text or len(text) > 32:
        raise _bad(f"{name}: expected a number, got {text[:32]!r}")
    try:
        value = float(text)
    except ValueError:
        raise _bad(f"{name}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _bad(f"{name}: must be a finite number, got {text!r}")
    return value


def _stage_image(request: Request, image: UploadFile):
    """Store the upload in a fresh temporary folder; (folder, (height, width))."""
    settings = get_settings(request)
    if not hasattr(image, "file"):
        raise _bad("image: expected a file upload")
    folder = get_store(request).new_tmp_dir()
    try:
        dest = upload_path(folder, "image")
        _save(image, dest, "image")
        try:
            shape = probe(dest, "image", settings.max_pixels).shape
        except UploadError as exc:
            raise _bad(str(exc), exc.status) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, shape


@router.post("/api/suggest", response_model=list[Suggestion], responses=_ERRORS,
             dependencies=[Depends(_fields(SUGGEST_FIELDS))])
def suggest(
    request: Request,
    image: UploadFile = File(..., description="The gray image (as for POST /api/jobs)."),
    x: str = Form(..., description="Column of the point, in pixels of the image (after EXIF orientation)."),
    y: str = Form(..., description="Row of the point."),
    k: str = Form("8", description="How many colours, 1..64."),
    method: str = Form("auto", description="auto or siggraph17: the network whose distribution is asked."),
    hints: str = Form("", description="Pins already placed (JSON list, as for POST /api/jobs): the colours "
                                      "likely at a point depend on them."),
) -> list[Suggestion]:
    """The ``k`` most likely colours the network predicts at (x, y), most likely first."""
    settings = get_settings(request)
    meth = _hint_method(method)
    px, py = _number(x, "x"), _number(y, "y")
    kk = _number(k, "k")
    cap = settings.cap_for(meth.name, "k") or 64
    if not kk.is_integer() or not 1 <= kk <= min(64, cap):
        raise _bad(f"k: expected an integer in 1..{int(min(64, cap))}, got {k.strip()[:32]!r}")
    points, _ = parse_guidance(meth, hints, "", [])
    folder, (h, w) = _stage_image(request, image)
    try:
        if not (0 <= px <= w - 1 and 0 <= py <= h - 1):
            raise _bad(f"x, y: point ({px:g}, {py:g}) lies outside the {w}x{h} image")
        try:
            guidance.check_points(points, w, h)
        except guidance.GuidanceError as exc:
            raise _bad(str(exc)) from None
        found = quick_call(request, "suggest", "suggest", folder=str(folder), x=px, y=py, k=int(kk),
                           method=meth.name, hints=points, max_pixels=settings.max_pixels)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [Suggestion(**s) for s in found]


@router.post("/api/preview", response_class=Response, dependencies=[Depends(_fields(PREVIEW_FIELDS))],
             responses={**_ERRORS, 200: {"content": {"image/png": {}}}})
def preview(
    request: Request,
    image: UploadFile = File(..., description="The gray image (as for POST /api/jobs)."),
    method: str = Form("auto", description="auto or siggraph17 (a method that takes colour hints)."),
    params: str = Form("{}", description="Parameters as a JSON object, as for POST /api/jobs."),
    hints: str = Form("", description="Colour pins (JSON list), as for POST /api/jobs."),
    regions: str = Form("", description="Region colours (JSON list), as for POST /api/jobs."),
    region_mask: list[UploadFile] | None = File(None, description="Masks of the regions, as for POST /api/jobs."),
) -> Response:
    """A low-resolution result (longer side at most 512 px; the network runs at its own input size)."""
    settings = get_settings(request)
    meth = _hint_method(method)
    values = parse_params(meth, params, settings.allow_path_params, settings)
    masks = [m for m in (region_mask or []) if not hasattr(m, "file") or m.filename or m.size]
    points, areas = parse_guidance(meth, hints, regions, masks)
    folder, (h, w) = _stage_image(request, image)
    try:
        try:
            guidance.check_points(points, w, h)
        except guidance.GuidanceError as exc:
            raise _bad(str(exc)) from None
        if areas:
            save_region_masks(masks, folder, (h, w), settings.max_pixels)
        out = quick_call(request, "preview", "preview", folder=str(folder), method=meth.name, params=values,
                         hints=points, regions=areas, max_pixels=settings.max_pixels)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    t = out["timings"]
    timing = ", ".join(f"{name.removesuffix('_s')};dur={t[name] * 1000:.1f}" for name in t)
    return Response(out["png"], media_type="image/png",
                    headers={"Cache-Control": "no-store", "Server-Timing": timing,
                             "X-Preview-Size": f"{out['width']}x{out['height']}", "X-Image-Size": f"{w}x{h}"})
