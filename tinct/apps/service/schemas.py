"""Response models of the API (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class JobStatus(BaseModel):
    """The state of one job."""

    id: str = Field(description="Random, unguessable job id (128 bits).")
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(ge=0.0, le=1.0, description="0..1; stages reported by the worker.")
    stage: str = Field(description="queued, starting, reading, running, post-processing, writing, done, failed, "
                                   "cancelled.")
    method: str
    params: dict[str, Any]
    post: str | None = None
    inputs: list[str] = Field(description="Uploads the job has: image, reference, mask, reference_mask, scribbles.")
    width: int
    height: int
    attempts: int = Field(description="How many times the job was started (a crash or restart may retry it).")
    created: float = Field(description="Unix time of submission.")
    started: float | None = None
    finished: float | None = None
    timings: dict[str, float] = Field(default_factory=dict,
                                      description="Seconds: queue_s, read_s, method_s, post_s, write_s, run_s, total_s.")
    error: str | None = Field(default=None, description="One line, when state is failed or cancelled.")
    result_url: str | None = Field(default=None, description="Where the PNG result is, when state is done.")
    expires: float | None = Field(default=None, description="Unix time after which a finished job is deleted.")
    hints: list[Any] | None = Field(default=None, description="The job's colour pins as submitted (GET /api/jobs/{id} "
                                                              "and the submission's answer; not in events).")
    regions: list[dict[str, Any]] | None = Field(default=None, description="The job's region colours: "
                                                 '[{"mask": i, "color": "#rrggbb", "mask_url": URL of the mask}] '
                                                 "(as hints).")


class MethodInputs(BaseModel):
    reference: Literal["required", "optional", "none"]
    mask: bool
    scribbles: Literal["required", "optional", "none"]
    extra: list[str] = []
    declared: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                description="Every input the method declares, by name.")


class MethodInfo(BaseModel):
    """A registered method, as :meth:`tinct.registry.Method.schema` describes it."""

    name: str
    kind: Literal["transfer", "colorize"]
    summary: str
    inputs: MethodInputs
    params: dict[str, dict[str, Any]] = Field(description="JSON-schema fragment per parameter the web accepts.")
    server_only_params: list[str] = Field(
        default=[], description="Parameters naming files on the server, which web clients may not set.")
    advanced: list[str] = Field(
        default=[], description="Engineering parameters (solver, device, threads, ...) a form may fold away.")


class Health(BaseModel):
    """Liveness: the server answers. Says nothing of whether it can take jobs (see Ready)."""

    status: Literal["ok"]
    version: str
    workers: int
    executor: str
    jobs: dict[str, int]
    limits: dict[str, float]
    auth: bool


class Ready(BaseModel):
    """Readiness: whether a submission now would be accepted and run."""

    ready: bool
    reasons: list[str] = Field(default=[], description="Why not, one line each.")
    workers_ready: int
    workers: int
    queued: int
    free_mb: float | None = None
    used_mb: float


class Suggestion(BaseModel):
    """One likely colour at a point."""

    color: str = Field(description="#rrggbb, shown at the image's own lightness there.")
    probability: float
    ab: list[float] = Field(description="CIELAB a, b of the colour bin.")


class Error(BaseModel):
    detail: str = Field(description="One line naming the field or parameter at fault.")
