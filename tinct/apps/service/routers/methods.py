"""``GET /api/methods``: every registered method with its inputs and parameter schemas."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request

from tinct.apps.service.deps import require_token
from tinct.apps.service.schemas import MethodInfo
from tinct.registry import Method, list_methods

router = APIRouter(tags=["methods"], dependencies=[Depends(require_token)])


#: Free-form string parameters with these names (or endings) name files on the server.
FILE_PARAM = re.compile(r"^(weights|prototxt|database|db|checkpoint|model)$|(_path|_file|_dir|_weights|_db)$")


def server_only(method: Method, allow_path_params: bool) -> list[str]:
    """Parameters web clients may not set: free-form strings that name files on the server."""
    if allow_path_params:
        return []
    return [p.name for p in method.params if p.type == "str" and not p.choices and FILE_PARAM.search(p.name)]


def path_like(value: str) -> bool:
    """A string that could reach the file system: separators, a leading dot or tilde, a drive letter."""
    return any(c in value for c in "/\\\0:") or value.startswith((".", "~"))


def describe(method: Method, allow_path_params: bool) -> MethodInfo:
    schema = method.schema()
    hidden = server_only(method, allow_path_params)
    schema["params"] = {k: v for k, v in schema["params"].items() if k not in hidden}
    return MethodInfo(**schema, server_only_params=hidden)


@router.get("/api/methods", response_model=list[MethodInfo])
def methods(request: Request) -> list[MethodInfo]:
    allow = request.app.state.settings.allow_path_params
    return [describe(m, allow) for m in list_methods()]
