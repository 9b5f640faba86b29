"""``GET /api/methods``: every registered method with its inputs and parameter schemas."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from tinct.apps.service.deps import require_token
from tinct.apps.service.schemas import MethodInfo
from tinct.registry import Method, list_methods

router = APIRouter(tags=["methods"], dependencies=[Depends(require_token)])


def server_only(method: Method, allow_path_params: bool) -> list[str]:
    """Parameters web clients may not set: those the registry marks as naming files (``Param(path=True)``)."""
    return [] if allow_path_params else list(method.path_params)


def path_like(value: str) -> bool:
    """A string that could reach the file system: separators, a leading dot or tilde, a drive letter."""
    return any(c in value for c in "/\\\0:") or value.startswith((".", "~"))


def describe(method: Method, allow_path_params: bool) -> MethodInfo:
    schema = method.schema()
    # The page's form reads the three upload roles it offers; every declared input is listed too.
    schema["inputs"] = {"reference": method.need("reference"), "mask": method.need("mask") != "none",
                        "scribbles": method.need("scribbles"),
                        "extra": [i.key for i in method.inputs if i.key not in ("reference", "mask", "scribbles")],
                        "declared": schema["inputs"]}
    hidden = server_only(method, allow_path_params)
    schema["params"] = {k: v for k, v in schema["params"].items() if k not in hidden}
    return MethodInfo(**schema, server_only_params=hidden)


@router.get("/api/methods", response_model=list[MethodInfo])
def methods(request: Request) -> list[MethodInfo]:
    allow = request.app.state.settings.allow_path_params
    return [describe(m, allow) for m in list_methods()]
