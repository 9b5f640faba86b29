"""``/api/jobs``: submit a job (multipart), poll it, fetch its result, delete it.

Everything a client sends is checked before the job is queued, so bad input is a 4xx with a
one-line ``detail`` naming the field, never a failed job: the method must exist, its
parameters must validate, the inputs it needs must be there (and no others), and every upload
must be an image that :func:`tinct.io.read_image` decodes within the pixel limit -- judged from
its content, never from its file name. Mask and scribble images must have the image's size.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import FileResponse

from tinct.apps.service.deps import get_pool, get_settings, get_store, require_token
from tinct.apps.service.routers.methods import path_like, server_only
from tinct.apps.service.schemas import Error, JobStatus
from tinct.apps.service.services.execute import upload_path
from tinct.apps.service.services.store import RESULT_NAME, JobStore, new_job_id, read_progress
from tinct.apps.service.settings import Settings
from tinct.errors import ImageTooLargeError, TinctError
from tinct.registry import Method, get_method

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_token)])

_ERRORS = {400: {"model": Error}, 401: {"model": Error}, 404: {"model": Error}, 413: {"model": Error}}


def _bad(detail: str, status: int = 400) -> HTTPException:
    return HTTPException(status, " ".join(detail.split()))


def status_of(job: dict, store: JobStore, settings: Settings) -> JobStatus:
    progress, stage = job["progress"], job["stage"]
    if job["state"] == "running":
        reported = read_progress(store.job_dir(job["id"]))
        if reported is not None:
            progress, stage = reported
    expires = job["finished"] + settings.job_ttl_seconds if job["finished"] else None
    return JobStatus(
        id=job["id"], state=job["state"], progress=progress, stage=stage, method=job["method"],
        params=job["params"], post=job["post"], inputs=job["inputs"], width=job["width"], height=job["height"],
        attempts=job["attempts"], created=job["created"], started=job["started"], finished=job["finished"],
        timings=job["timings"], error=job["error"], expires=expires,
        result_url=f"/api/jobs/{job['id']}/result" if job["state"] == "done" else None,
    )


def parse_params(method: Method, text: str, allow_path_params: bool) -> dict:
    """The ``params`` form field: a JSON object of parameter values, validated by the registry."""
    try:
        params = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise _bad(f"params: not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(params, dict):
        raise _bad(f"params: expected a JSON object of parameter values, got {type(params).__name__}")
    hidden = server_only(method, allow_path_params)
    for name, value in params.items():
        if name in hidden:
            raise _bad(f"params: {name}: names a file on the server and cannot be set through the web service")
        if isinstance(value, str) and not allow_path_params and path_like(value):
            raise _bad(f"params: {name}: file paths cannot be given through the web service, got {value!r}")
    try:
        return method.validate(params)
    except TinctError as exc:
        raise _bad(f"params: {exc}") from None


def parse_post(text: str) -> str | None:
    """``post``: empty, or a :func:`tinct.post.apply_post` recipe such as ``wb``, ``contrast`` or ``wb,contrast``."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        from tinct.post import parse_post as _parse
    except ImportError:
        raise _bad("post: post-processing is not available in this installation") from None
    try:
        _parse(text)
    except TinctError as exc:
        detail = str(exc)
        raise _bad(detail if detail.startswith("post:") else f"post: {detail}") from None
    return text


def check_needs(method: Method, given: dict[str, UploadFile | None]) -> None:
    """Refuse a missing required input, or an input the method does not use."""
    for role, need in (("reference", method.need("reference")), ("scribbles", method.need("scribbles"))):
        if need == "required" and given.get(role) is None:
            raise _bad(f"{role}: method {method.name!r} needs a {role} image")
        if need == "none" and given.get(role) is not None:
            raise _bad(f"{role}: method {method.name!r} does not use a {role} image")
    for role in ("mask", "reference_mask"):
        if given.get(role) is not None and method.need(role) == "none":
            raise _bad(f"{role}: method {method.name!r} does not use masks")
    if given.get("reference_mask") is not None and given.get("reference") is None:
        raise _bad("reference_mask: given without a reference image")


def _save(upload: UploadFile, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    if tmp.stat().st_size == 0:
        raise _bad(f"{dest.stem}: the uploaded file is empty")
    tmp.replace(dest)


def _check_image(path: Path, role: str, max_pixels: int):
    """Decode an upload with read_image (content sniffing, pixel limit); errors name the field, not the path."""
    from tinct.io import read_image

    try:
        return read_image(path, max_pixels=max_pixels)
    except ImageTooLargeError as exc:
        raise _bad(f"{role}: {str(exc).replace(str(path), 'upload')} (--max-pixels)", 413) from None
    except TinctError as exc:
        raise _bad(f"{role}: {str(exc).replace(str(path), 'upload')}") from None


def _safe_name(filename: str | None) -> str:
    """The client's file name reduced to a harmless stem, used only for the download name."""
    stem = Path((filename or "").replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:60]
    return stem or "image"


@router.post("/api/jobs", response_model=JobStatus, status_code=201, responses={**_ERRORS, 503: {"model": Error}})
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
) -> JobStatus:
    settings: Settings = get_settings(request)
    store: JobStore = get_store(request)
    try:
        meth = get_method(method.strip())
    except TinctError as exc:
        raise _bad(f"method: {exc}") from None
    values = parse_params(meth, params, settings.allow_path_params)
    post_spec = parse_post(post)
    uploads = {"image": image, "reference": reference, "mask": mask, "reference_mask": reference_mask,
               "scribbles": scribbles}
    # an optional field sent empty (a form's unused file input) counts as absent; the image never does
    uploads = {k: v for k, v in uploads.items() if v is not None and (k == "image" or v.filename or v.size)}
    check_needs(meth, uploads)
    counts = store.counts()
    if counts["queued"] >= settings.max_queued:
        raise _bad(f"queue: {counts['queued']} jobs are waiting; try again later", 503)
    staged = store.new_tmp_dir()
    try:
        shapes = {}
        for role, upload in uploads.items():
            dest = upload_path(staged, role)
            _save(upload, dest)
            shapes[role] = _check_image(dest, role, settings.max_pixels).pixels.shape[:2]
        h, w = shapes["image"]
        for role in ("mask", "scribbles"):
            if role in shapes and shapes[role] != (h, w):
                got = shapes[role]
                raise _bad(f"{role}: is {got[1]}x{got[0]} but the image is {w}x{h}; they must be the same size")
        if "reference_mask" in shapes and shapes["reference_mask"] != shapes["reference"]:
            raise _bad("reference_mask: must have the reference image's size")
        job_id = new_job_id()
        job = store.create(job_id, staged, method=meth.name, params=values, post=post_spec,
                           inputs=list(uploads), name=_safe_name(image.filename), width=w, height=h)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    get_pool(request).notify()
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return status_of(job, store, settings)


def _job(store: JobStore, job_id: str) -> dict:
    job = store.get(job_id)
    if job is None:
        raise _bad("job: no such job (unknown, expired or deleted)", 404)
    return job


@router.get("/api/jobs/{job_id}", response_model=JobStatus, responses=_ERRORS)
def get_job(job_id: str, request: Request) -> JobStatus:
    store = get_store(request)
    return status_of(_job(store, job_id), store, get_settings(request))


@router.get("/api/jobs/{job_id}/result", response_class=FileResponse,
            responses={**_ERRORS, 409: {"model": Error}, 200: {"content": {"image/png": {}}}})
def get_result(job_id: str, request: Request) -> FileResponse:
    store = get_store(request)
    job = _job(store, job_id)
    if job["state"] != "done":
        why = f": {job['error']}" if job["state"] == "failed" else ""
        raise _bad(f"job: no result, the job is {job['state']}{why}", 409)
    path = store.job_dir(job_id) / RESULT_NAME
    return FileResponse(path, media_type="image/png", filename=f"{job['name']}.{job['method']}.png",
                        headers={"Cache-Control": "private, max-age=3600"})


@router.delete("/api/jobs/{job_id}", status_code=204, responses={**_ERRORS, 409: {"model": Error}})
def delete_job(job_id: str, request: Request) -> Response:
    store = get_store(request)
    job = _job(store, job_id)
    if job["state"] == "running":
        raise _bad("job: it is running; delete it when it has finished", 409)
    store.delete(job_id)
    return Response(status_code=204)
