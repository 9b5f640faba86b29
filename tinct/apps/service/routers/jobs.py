"""``/api/jobs``: submit a job (multipart), follow it (poll or Server-Sent Events), fetch its result, cancel it.

Everything a client sends is checked before the job is queued, so bad input is a 4xx with a
one-line ``detail`` naming the field, never a failed job and never a 500: the form has only known
fields, each once; the method must exist; its parameters are a flat JSON object (bounded length,
depth and number size) that the registry validates and that stays within this server's caps on
costly parameters; the inputs it needs must be there (and no others); and every upload must be
an image whose *header* (:func:`~tinct.apps.service.services.uploads.probe`) shows a supported
format within the pixel limit -- judged from its content, never from its file name. Mask and
scribble images must have the image's size. Pixels are decoded only by the workers.

With API tokens, a job belongs to the token that submitted it: for any other token it does not
exist (404).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tinct.apps.service.deps import get_pool, get_settings, get_store, owner_filter, require_token
from tinct.apps.service.routers.methods import ROLES, method_needs, path_like, server_only
from tinct.apps.service.schemas import Error, JobStatus
from tinct.apps.service.services import guidance
from tinct.apps.service.services.execute import upload_path
from tinct.apps.service.services.jsonfield import JsonFieldError, depth, parse_float, parse_int, refuse_constant
from tinct.apps.service.services.quick import QuickError, QuickPool
from tinct.apps.service.services.store import FINAL_STATES, RESULT_NAME, JobStore, new_job_id, read_progress
from tinct.apps.service.services.uploads import UploadError, probe
from tinct.apps.service.settings import Settings
from tinct.errors import TinctError
from tinct.registry import Method, get_method

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_token)])
log = logging.getLogger("tinct.apps.service")

_ERRORS = {400: {"model": Error}, 401: {"model": Error}, 404: {"model": Error}, 413: {"model": Error}}

#: Form fields of a submission; anything else is refused.
FIELDS = ("image", "method", "params", "post", *ROLES, "hints", "regions", "region_mask")
#: Fields that may be given more than once, and how often.
REPEATABLE = {"region_mask": guidance.MAX_REGIONS}
MAX_PARAMS_CHARS = 16_384
MAX_PARAMS_DEPTH = 4
MAX_STRING = 256
MAX_STREAMS = 256  # Server-Sent Events streams open at the same time


def _bad(detail: str, status: int = 400) -> HTTPException:
    return HTTPException(status, " ".join(detail.split()))


def form_method(text: str | None) -> Method:
    """The registered method a form's ``method`` field names; a 400 naming the field otherwise."""
    name = (text or "").strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise _bad("method: expected a method name from /api/methods")
    try:
        return get_method(name)
    except TinctError as exc:
        raise _bad(f"method: {exc}") from None


def status_of(job: dict, store: JobStore, settings: Settings, with_guidance: bool = False) -> JobStatus:
    """The job's status; ``with_guidance`` adds its hints and regions (read from its folder, so not on every
    event of a stream)."""
    progress, stage = job["progress"], job["stage"]
    if job["state"] == "running":
        reported = read_progress(store.job_dir(job["id"]))
        if reported is not None:
            progress, stage = reported
    expires = job["finished"] + settings.job_ttl_seconds if job["finished"] else None
    return JobStatus(
        id=job["id"], state=job["state"], progress=min(1.0, max(0.0, progress)), stage=stage, method=job["method"],
        params=job["params"], post=job["post"], inputs=job["inputs"], width=job["width"], height=job["height"],
        attempts=job["attempts"], created=job["created"], started=job["started"], finished=job["finished"],
        timings=job["timings"], error=job["error"], expires=expires,
        result_url=f"/api/jobs/{job['id']}/result" if job["state"] == "done" else None,
        **_guidance_of(job, store, with_guidance),
    )


def _guidance_of(job: dict, store: JobStore, wanted: bool) -> dict:
    if not wanted:
        return {}
    try:
        hints, regions = guidance.load_guidance(store.job_dir(job["id"]))
    except ValueError:
        return {}
    urls = [{**r, "mask_url": f"/api/jobs/{job['id']}/region_mask/{r['mask']}"} for r in regions or []]
    return {"hints": hints or [], "regions": urls}


# ---------------------------------------------------------------------------------------------- form and params
async def known_fields(request: Request) -> None:
    """Refuse form fields the API does not have, and fields given twice (a 400 naming them)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise _bad("request: expected a multipart/form-data body (fields image, method, params, ...)", 415)
    check_fields(await request.form(), FIELDS)  # parsed once: FastAPI reuses it for the parameters below


def check_fields(form, fields: tuple[str, ...]) -> None:
    """Only ``fields``, each once (a repeatable one at most its :data:`REPEATABLE` count)."""
    seen: dict[str, int] = {}
    for key, _ in form.multi_items():
        if key not in fields:
            shown = key if len(key) <= 40 and key.isprintable() else key[:40].encode("unicode_escape").decode() + "..."
            raise _bad(f"form: unknown field {shown!r} (known: {', '.join(fields)})")
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > REPEATABLE.get(key, 1):
            raise _bad(f"{key}: given more than once" if key not in REPEATABLE
                       else f"{key}: given more than {REPEATABLE[key]} times")


# the bounded JSON readers, shared with the colour-guidance fields
_ParamsError, _int, _float, _constant, _depth = JsonFieldError, parse_int, parse_float, refuse_constant, depth


def parse_params(method: Method, text: str, allow_path_params: bool, settings: Settings | None = None) -> dict:
    """The ``params`` form field: a flat JSON object of parameter values, validated by the registry and the caps."""
    text = text or "{}"
    if len(text) > MAX_PARAMS_CHARS:
        raise _bad(f"params: longer than {MAX_PARAMS_CHARS} characters")
    if _depth(text) > MAX_PARAMS_DEPTH:
        raise _bad(f"params: nested deeper than {MAX_PARAMS_DEPTH} levels; expected a flat JSON object")
    try:
        params = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise _bad(f"params: not valid JSON ({exc.msg} at position {exc.pos})") from None
    except (_ParamsError, ValueError, RecursionError, OverflowError) as exc:
        raise _bad(f"params: {exc}") from None
    if not isinstance(params, dict):
        raise _bad(f"params: expected a JSON object of parameter values, got {type(params).__name__}")
    hidden = server_only(method, allow_path_params)
    for name, value in params.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
            raise _bad(f"params: {name[:40]!r} is not a parameter name")
        if name in hidden:
            raise _bad(f"params: {name}: names a file on the server and cannot be set through the web service")
        if isinstance(value, dict | list):
            raise _bad(f"params: {name}: expected a number, a string or true/false, got a JSON "
                       f"{'object' if isinstance(value, dict) else 'array'}")
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise _bad(f"params: {name}: longer than {MAX_STRING} characters")
            if not allow_path_params and path_like(value):
                raise _bad(f"params: {name}: file paths cannot be given through the web service, got {value!r}")
    try:
        values = method.validate(params)
    except TinctError as exc:
        raise _bad(f"params: {exc}") from None
    if settings is not None:
        check_caps(method, values, settings)
    return values


def check_caps(method: Method, values: dict, settings: Settings) -> None:
    """Refuse values of costly parameters above this server's caps (400 naming the parameter and the cap)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        cap = settings.cap_for(method.name, name)
        if cap is not None and value > cap:
            shown = int(cap) if float(cap).is_integer() else cap
            raise _bad(f"params: {name}: {value:g} is over this server's cap of {shown} "
                       f"(the operator can raise it: tinct serve --cap {name}={value:g})")


def parse_post(text: str) -> str | None:
    """``post``: empty, or a :func:`tinct.post.apply_post` recipe such as ``wb``, ``contrast`` or ``wb,contrast``."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > 64:
        raise _bad("post: longer than 64 characters")
    try:
        from tinct.post import parse_post as _parse
    except ImportError:
        raise _bad("post: post-processing is not available in this installation") from None
    try:
        _parse(text)
    except TinctError as exc:
        detail = str(exc)
        raise _bad(detail if detail.startswith("post:") else f"post: {detail}") from None
    except Exception:  # noqa: BLE001 - a recipe the parser chokes on is still the client's
        raise _bad(f"post: cannot parse {text!r}") from None
    return text


# ---- which uploads a method takes: one small block, to be swapped for the registry's own check ----
def check_needs(method: Method, given: dict[str, UploadFile | None]) -> None:
    """Refuse a missing required input, or an input the method does not use."""
    needs = method_needs(method)
    for role in ("reference", "scribbles"):
        if needs[role] == "required" and given.get(role) is None:
            raise _bad(f"{role}: method {method.name!r} needs a {role} image")
        if needs[role] == "none" and given.get(role) is not None:
            raise _bad(f"{role}: method {method.name!r} does not use a {role} image")
    for role in ("mask", "reference_mask"):
        if given.get(role) is not None and needs[role] == "none":
            raise _bad(f"{role}: method {method.name!r} does not use masks" if needs["mask"] == "none"
                       else f"{role}: method {method.name!r} does not use a {role.replace('_', ' ')}")
    if given.get("reference_mask") is not None and given.get("reference") is None:
        raise _bad("reference_mask: given without a reference image")
# ---- end of the input check ----


def declares(method: Method, kind: str) -> bool:
    """Whether the method declares an input of ``kind`` (``hints``, ``regions``)."""
    return any(i.kind == kind for i in getattr(method, "inputs", ()))


def parse_guidance(method: Method, hints: str, regions: str, masks: list) -> tuple[list | None, list | None]:
    """The ``hints`` and ``regions`` fields, checked (a 400 naming the entry); refused for methods without them."""
    try:
        points = guidance.parse_hints_field(hints)
        areas = guidance.parse_regions_field(regions, len(masks))
    except guidance.GuidanceError as exc:
        raise _bad(str(exc)) from None
    for name, value in (("hints", points), ("regions", areas)):
        if value and not declares(method, name):
            takers = ", ".join(sorted(m.name for m in _methods_with(name))) or "none"
            raise _bad(f"{name}: method {method.name!r} does not take {name} (methods that do: {takers})")
    return points, areas


def _methods_with(kind: str) -> list[Method]:
    from tinct.registry import list_methods

    return [m for m in list_methods() if declares(m, kind)]


def save_region_masks(masks: list, folder: Path, shape: tuple[int, int], max_pixels: int) -> None:
    """Store and probe each ``region_mask`` upload; each must have the image's size."""
    h, w = shape
    for i, upload in enumerate(masks):
        role = f"region_mask[{i}]"
        if not hasattr(upload, "file"):
            raise _bad(f"{role}: expected a file upload")
        dest = guidance.region_mask_path(folder, i)
        _save(upload, dest, role)
        try:
            got = probe(dest, role, max_pixels).shape
        except UploadError as exc:
            raise _bad(str(exc), exc.status) from None
        if got != (h, w):
            raise _bad(f"{role}: is {got[1]}x{got[0]} but the image is {w}x{h}; they must be the same size")


def get_quick(request: Request) -> QuickPool:
    return request.app.state.quick


def quick_call(request: Request, name: str, what: str, **kwargs):
    """Run a quick request (:mod:`~tinct.apps.service.services.quick`); its errors as HTTP errors."""
    try:
        return get_quick(request).call(name, what, **kwargs)
    except QuickError as exc:
        raise _bad(str(exc), exc.status) from None


def _save(upload: UploadFile, dest: Path, role: str | None = None) -> None:
    tmp = dest.with_name(dest.name + ".part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    if tmp.stat().st_size == 0:
        raise _bad(f"{role or dest.stem}: the uploaded file is empty")
    tmp.replace(dest)


def _safe_name(filename: str | None) -> str:
    """The client's file name reduced to a harmless stem, used only for the download name."""
    stem = Path((filename or "").replace("\\", "/").replace("\0", "")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:60]
    return stem or "image"


# ---------------------------------------------------------------------------------------------- routes
@router.post("/api/jobs", response_model=JobStatus, status_code=201,
             responses={**_ERRORS, 415: {"model": Error}, 429: {"model": Error}, 503: {"model": Error},
                        507: {"model": Error}},
             dependencies=[Depends(known_fields)])
def create_job(
    request: Request,
    response: Response,
    image: UploadFile = File(..., description="The image to colorize or recolour (PNG, JPEG, TIFF, WebP, BMP)."),
    method: str = Form(..., description="A method name from /api/methods."),
    params: str = Form("{}", description='Parameters as a JSON object, e.g. {"strength": 0.8}.'),
    post: str = Form("", description="Optional post-processing: wb, contrast or wb,contrast."),
    reference: UploadFile | None = File(None, description="Reference image (transfer and exemplar methods)."),
    mask: UploadFile | None = File(None, description="Nonzero where the image may change."),
    reference_mask: UploadFile | None = File(None, description="Nonzero where reference colours are measured."),
    scribbles: UploadFile | None = File(None, description="A copy of the gray image with colour strokes."),
    hints: str = Form("", description='Colour pins as a JSON list: [{"x": 120, "y": 45, "color": "#1f3a93", '
                                      '"radius": 3}, ...] (x = column, y = row of the image; radius optional).'),
    regions: str = Form("", description='Region colours as a JSON list: [{"mask": 0, "color": "#1f3a93"}, ...], '
                                        'mask the index of a region_mask upload.'),
    region_mask: list[UploadFile] | None = File(None, description="Masks of the regions (repeat the field), "
                                                                  "nonzero inside; each of the image's size."),
) -> JobStatus:
    settings: Settings = get_settings(request)
    store: JobStore = get_store(request)
    # the token's owner id; without tokens the client's address, which only the per-client queue limit reads
    owner = getattr(request.state, "owner", "") or f"addr:{request.client.host if request.client else '?'}"
    meth = form_method(method)
    values = parse_params(meth, params, settings.allow_path_params, settings)
    post_spec = parse_post(post)
    uploads = {"image": image, "reference": reference, "mask": mask, "reference_mask": reference_mask,
               "scribbles": scribbles}
    # an optional field sent empty (a form's unused file input) counts as absent; the image never does
    uploads = {k: v for k, v in uploads.items() if v is not None and (k == "image" or v.filename or v.size)}
    for role, upload in uploads.items():
        if not hasattr(upload, "file"):  # a text field where a file belongs
            raise _bad(f"{role}: expected a file upload")
    check_needs(meth, uploads)
    masks = [m for m in (region_mask or []) if not hasattr(m, "file") or m.filename or m.size]
    points, areas = parse_guidance(meth, hints, regions, masks)
    counts = store.counts()
    if counts["queued"] >= settings.max_queued:
        raise _bad(f"queue: {counts['queued']} jobs are waiting (--max-queued); try again later", 503)
    staged = store.new_tmp_dir()
    try:
        shapes = {}
        for role, upload in uploads.items():
            dest = upload_path(staged, role)
            _save(upload, dest)
            try:
                shapes[role] = probe(dest, role, settings.max_pixels).shape
            except UploadError as exc:
                raise _bad(str(exc), exc.status) from None
        h, w = shapes["image"]
        for role in ("mask", "scribbles"):
            if role in shapes and shapes[role] != (h, w):
                got = shapes[role]
                raise _bad(f"{role}: is {got[1]}x{got[0]} but the image is {w}x{h}; they must be the same size")
        if "reference_mask" in shapes and shapes["reference_mask"] != shapes["reference"]:
            raise _bad("reference_mask: must have the reference image's size")
        try:
            guidance.check_points(points, w, h)
        except guidance.GuidanceError as exc:
            raise _bad(str(exc)) from None
        if areas:
            save_region_masks(masks, staged, (h, w), settings.max_pixels)
            # pixels are decoded away from the server: an empty mask is a 400 now, not a failed job later
            quick_call(request, "check_regions", "regions", folder=str(staged), regions=areas,
                       max_pixels=settings.max_pixels)
        guidance.save_guidance(staged, points, areas)
        job_id = new_job_id()
        job = store.create(job_id, staged, method=meth.name, params=values, post=post_spec,
                           inputs=list(uploads), name=_safe_name(image.filename), width=w, height=h, owner=owner)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    get_pool(request).notify()
    log.info("job %s: queued (%s, %dx%d)", job_id, meth.name, w, h)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return status_of(job, store, settings, with_guidance=True)


def _job(store: JobStore, job_id: str, request: Request) -> dict:
    job = store.get(job_id, owner_filter(request))
    if job is None:
        raise _bad("job: no such job (unknown, expired or deleted)", 404)
    return job


@router.get("/api/jobs/{job_id}", response_model=JobStatus, responses=_ERRORS)
def get_job(job_id: str, request: Request) -> JobStatus:
    store = get_store(request)
    return status_of(_job(store, job_id, request), store, get_settings(request), with_guidance=True)


@router.get("/api/jobs/{job_id}/result", response_class=FileResponse,
            responses={**_ERRORS, 409: {"model": Error}, 200: {"content": {"image/png": {}}}})
def get_result(job_id: str, request: Request) -> FileResponse:
    store = get_store(request)
    job = _job(store, job_id, request)
    if job["state"] != "done":
        why = f": {job['error']}" if job["state"] in ("failed", "cancelled") else ""
        raise _bad(f"job: no result, the job is {job['state']}{why}", 409)
    path = store.job_dir(job_id) / RESULT_NAME
    if not path.is_file():
        raise _bad("job: no such job (unknown, expired or deleted)", 404)
    return FileResponse(path, media_type="image/png", filename=f"{job['name']}.{job['method']}.png",
                        headers={"Cache-Control": "private, max-age=3600"})


_MEDIA = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "TIFF": "image/tiff", "WEBP": "image/webp",
          "BMP": "image/bmp"}


@router.get("/api/jobs/{job_id}/region_mask/{index}", response_class=FileResponse, responses=_ERRORS)
def get_region_mask(job_id: str, index: int, request: Request) -> FileResponse:
    """A region mask the job was given (the ``mask``-th ``region_mask`` upload), as it was uploaded."""
    store = get_store(request)
    _job(store, job_id, request)
    path = guidance.region_mask_path(store.job_dir(job_id), index) if 0 <= index < guidance.MAX_REGIONS else None
    if path is None or not path.is_file():
        raise _bad(f"region_mask: the job has no region mask {index}", 404)
    return _upload_file(path, "region_mask", request)


@router.get("/api/jobs/{job_id}/inputs/{role}", response_class=FileResponse, responses=_ERRORS)
def get_input(job_id: str, role: str, request: Request) -> FileResponse:
    """An upload the job was given (``image``, ``reference``, ...), as it was uploaded: the page reopens a
    job from it, with its pins and regions, to go on steering the colours."""
    store = get_store(request)
    job = _job(store, job_id, request)
    if role not in job["inputs"]:
        raise _bad(f"input: the job has no {role!r} input (it has {', '.join(job['inputs'])})", 404)
    path = upload_path(store.job_dir(job_id), role)
    if not path.is_file():
        raise _bad("job: no such job (unknown, expired or deleted)", 404)
    return _upload_file(path, role, request)


def _upload_file(path: Path, role: str, request: Request) -> FileResponse:
    """A kept upload as it was uploaded, with the media type of what it holds (octet-stream if unreadable)."""
    try:
        kind = probe(path, role, get_settings(request).max_pixels).format
    except UploadError:
        kind = ""
    return FileResponse(path, media_type=_MEDIA.get(kind, "application/octet-stream"),
                        headers={"Cache-Control": "private, max-age=3600"})


def _cancel(request: Request, job_id: str) -> dict:
    """Cancel a queued or running job (its worker is stopped); the row as it was, or 404."""
    store = get_store(request)
    before = store.cancel(job_id, owner_filter(request))
    if before is None:
        raise _bad("job: no such job (unknown, expired or deleted)", 404)
    if before["state"] == "running":
        stopped = get_pool(request).abort(job_id, before["lease"], "cancel")
        log.info("job %s: cancelled while running%s", job_id, "" if stopped else " (its worker had not started it)")
    elif before["state"] == "queued":
        log.info("job %s: cancelled while queued", job_id)
    return before


@router.post("/api/jobs/{job_id}/cancel", response_model=JobStatus, responses=_ERRORS)
def cancel_job(job_id: str, request: Request) -> JobStatus:
    """Stop a queued or running job; it stays, in state ``cancelled``, until it expires. A finished job is unchanged."""
    _cancel(request, job_id)
    store = get_store(request)
    return status_of(_job(store, job_id, request), store, get_settings(request))


@router.delete("/api/jobs/{job_id}", status_code=204, responses=_ERRORS)
def delete_job(job_id: str, request: Request) -> Response:
    """Delete a job and its files; a queued or running job is cancelled first (its worker is stopped)."""
    _cancel(request, job_id)
    get_store(request).delete(job_id)
    return Response(status_code=204)


@router.get("/api/jobs/{job_id}/events", responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, request: Request):
    """The job's status as Server-Sent Events: one ``status`` event per change, the last when the job has ended.

    A comment line every 15 s keeps proxies from closing the stream. Clients that cannot stream
    poll ``GET /api/jobs/{id}`` instead.
    """
    store, settings = get_store(request), get_settings(request)
    owner = owner_filter(request)
    first = await run_in_threadpool(store.get, job_id, owner)
    if first is None:
        raise _bad("job: no such job (unknown, expired or deleted)", 404)
    state = request.app.state
    if getattr(state, "streams", 0) >= MAX_STREAMS:
        raise _bad("events: too many open event streams; poll GET /api/jobs/{id} instead", 503)

    async def stream():
        state.streams = getattr(state, "streams", 0) + 1
        try:
            last, beat = None, time.monotonic()
            job = first
            limit = time.monotonic() + max(3600.0, settings.job_timeout_s * settings.max_attempts + 600)
            while time.monotonic() < limit:
                if job is None:
                    yield "event: gone\ndata: {}\n\n"
                    return
                status = await run_in_threadpool(status_of, job, store, settings)
                text = status.model_dump_json()
                if text != last:
                    last, beat = text, time.monotonic()
                    yield f"event: status\ndata: {text}\n\n"
                if status.state in FINAL_STATES:
                    return
                if time.monotonic() - beat > 15:
                    beat = time.monotonic()
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)
                job = await run_in_threadpool(store.get, job_id, owner)
        finally:
            state.streams -= 1

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
