"""``GET /api/methods``: every registered method with its inputs and parameter schemas.

Each parameter's ``maximum`` is the lower of the registry's bound and this server's cap on it
(:meth:`~tinct.apps.service.settings.Settings.cap_for`), so the form never offers a value the
server would refuse; ``advanced`` lists the engineering parameters (solver, device, threads,
backend, ...) the browser UI folds under "Advanced".
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request

from tinct.apps.service.deps import require_token
from tinct.apps.service.schemas import MethodInfo, MethodInputs
from tinct.registry import Method, list_methods

router = APIRouter(tags=["methods"], dependencies=[Depends(require_token)])


#: Free-form string parameters with these names (or endings) name files on the server.
FILE_PARAM = re.compile(r"^(weights|prototxt|database|db|checkpoint|model)$|(_path|_file|_dir|_weights|_db)$")

#: Engineering parameters: how a result is computed rather than what it looks like.
ADVANCED = frozenset({
    "solver", "device", "threads", "backend", "input_size", "upsample", "head", "samples", "seed", "segments",
    "proxy_megapixels", "lut_size", "regrain", "work_size", "neighbors", "compactness", "tau", "delta_s",
    "delta_c", "sigma_g", "matching", "iterations", "k", "size", "tolerance", "classes",
})

#: Upload roles of the web form besides ``image``.
ROLES = ("reference", "mask", "reference_mask", "scribbles")


# ---- what each method takes: the one place that reads the registry's input declarations ----
def method_needs(method: Method) -> dict[str, str]:
    """``'required'``, ``'optional'`` or ``'none'`` for each upload role of the web form.

    Reads :meth:`tinct.registry.Method.need` where the registry declares inputs, and the older
    ``reference``/``mask``/``scribbles`` attributes otherwise.
    """
    if hasattr(method, "need"):
        return {role: method.need(role) for role in ROLES}
    mask = "optional" if getattr(method, "mask", False) else "none"
    reference = getattr(method, "reference", "none")
    return {"reference": reference, "mask": mask, "reference_mask": mask if reference != "none" else "none",
            "scribbles": getattr(method, "scribbles", "none")}


def other_inputs(method: Method) -> list[str]:
    """Inputs the method declares that the web form does not offer."""
    if hasattr(method, "inputs"):
        return [i.key for i in method.inputs if i.key not in ROLES]
    return list(getattr(method, "extra_inputs", ()))
# ---- end of the input declarations ----


def server_only(method: Method, allow_path_params: bool) -> list[str]:
    """Parameters web clients may not set: those the registry marks as naming files (``Param(path=True)``)."""
    if allow_path_params:
        return []
    if hasattr(method, "path_params"):
        return list(method.path_params)
    return [p.name for p in method.params if p.type == "str" and not p.choices and FILE_PARAM.search(p.name)]


def path_like(value: str) -> bool:
    """A string that could reach the file system: separators, a leading dot or tilde, a drive letter."""
    return any(c in value for c in "/\\\0:") or value.startswith((".", "~"))


def describe(method: Method, allow_path_params: bool, settings=None) -> MethodInfo:
    hidden = server_only(method, allow_path_params)
    params = {}
    for p in method.params:
        if p.name in hidden:
            continue
        spec = p.schema()
        cap = settings.cap_for(method.name, p.name) if settings is not None and p.type in ("int", "float") else None
        if cap is not None and (spec.get("maximum") is None or cap < spec["maximum"]):
            spec["maximum"] = int(cap) if p.type == "int" else cap
        params[p.name] = spec
    needs = method_needs(method)
    # The page's form reads the upload roles it offers; every declared input is listed too.
    inputs = MethodInputs(reference=needs["reference"], mask=needs["mask"] != "none", scribbles=needs["scribbles"],
                          extra=other_inputs(method),
                          declared={k: v for k, v in method.schema().get("inputs", {}).items() if isinstance(v, dict)})
    return MethodInfo(name=method.name, kind=method.kind, summary=method.summary, inputs=inputs, params=params,
                      server_only_params=hidden, advanced=[n for n in params if n in ADVANCED])


@router.get("/api/methods", response_model=list[MethodInfo])
def methods(request: Request) -> list[MethodInfo]:
    settings = request.app.state.settings
    return [describe(m, settings.allow_path_params, settings) for m in list_methods()]
