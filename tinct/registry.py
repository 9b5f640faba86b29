"""One registry of methods, shared by the Python API, CLI, web service and batch runner.

A method is a plain function plus one :func:`register` decorator that declares
its name, kind, inputs and parameters. Front ends never hard-code a method:
they read :func:`list_methods` and call :meth:`Method.__call__`.

Method modules are imported lazily by :func:`load_methods`, from the list in
:mod:`tinct.methods`, so that listing methods never imports PyTorch.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tinct.errors import MissingDependencyError, ParameterError, UnknownMethodError

Kind = Literal["transfer", "colorize"]
Need = Literal["required", "optional", "none"]
InputKind = Literal["image", "mask", "scribbles", "hints", "regions", "labels"]

#: What each kind of input holds, for help texts and the web form.
INPUT_KINDS: dict[str, str] = {
    "image": "a colour image",
    "mask": "a gray or binary image of the input's size, nonzero where it applies",
    "scribbles": "a copy of the input with colour strokes painted on it",
    "hints": "colour points: (x, y, colour[, radius])",
    "regions": "(mask, colour) pairs: a region of the input and the colour it should take",
    "labels": "an image of integer class labels of the input's size",
}

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}

#: Optional feature sets of the package (``pip install "tinct[NAME]"``) and the modules each brings.
EXTRAS: dict[str, tuple[str, ...]] = {
    "cnn": ("torch",),
    "video": ("av",),
    "batch": ("dask", "distributed"),
    "serve": ("fastapi", "uvicorn", "multipart"),
}


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`MissingDependencyError` naming the install command when ``extra`` is not installed."""
    import importlib.util

    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(f"{what} needs {', '.join(missing)}, which is not installed: "
                                     f'pip install "tinct[{extra}]"')


@dataclass(frozen=True)
class Param:
    """A tunable parameter of a method.

    Parameters
    ----------
    name : str
        Python keyword argument name.
    type : {'int', 'float', 'str', 'bool'}
    default : object
        Default value (``None`` allowed for optional parameters).
    help : str
        One sentence for CLI help and the web form.
    min, max : float, optional
        Inclusive numeric bounds.
    choices : tuple of str, optional
        Allowed values for ``str`` parameters.
    path : bool
        The value names a file (weights, a database): front ends that serve other people (the web
        service) refuse it unless the operator allows it.
    """

    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    path: bool = False

    def __post_init__(self):
        if self.type not in _TYPES:
            raise TypeError(f"Param {self.name}: unknown type {self.type!r}")
        if self.path and self.type != "str":
            raise TypeError(f"Param {self.name}: only str parameters can name files")

    def parse(self, text: str) -> Any:
        """Convert a command-line string to this parameter's type and validate it."""
        if self.type == "bool":
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                value: Any = True
            elif low in ("0", "false", "no", "off"):
                value = False
            else:
                raise ParameterError(f"{self.name}: expected true or false, got {text!r}")
        else:
            try:
                value = _TYPES[self.type](text)
            except ValueError:
                raise ParameterError(f"{self.name}: expected {self.type}, got {text!r}") from None
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Check ``value`` against type, bounds and choices; return it (ints accepted for floats)."""
        if value is None and self.default is None:
            return None
        t = _TYPES[self.type]
        if self.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) and self.type != "bool" or not isinstance(value, t):
            raise ParameterError(f"{self.name}: expected {self.type}, got {value!r}")
        if self.type == "float" and value != value:
            raise ParameterError(f"{self.name}: must be a number, got NaN")
        if self.min is not None and value < self.min:
            raise ParameterError(f"{self.name}: must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ParameterError(f"{self.name}: must be <= {self.max}, got {value}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{self.name}: must be one of {', '.join(self.choices)}; got {value!r}")
        return value

    def schema(self) -> dict:
        """JSON-schema fragment for the web service and ``--json`` listings."""
        js = {"integer" if self.type == "int" else "number" if self.type == "float" else "string" if self.type == "str" else "boolean"}
        out: dict[str, Any] = {"type": js.pop(), "default": self.default, "description": self.help}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.path:
            out["format"] = "path"
        return out


@dataclass(frozen=True)
class Input:
    """An input of a method besides the image it works on.

    Parameters
    ----------
    name : str
        The method's keyword argument.
    kind : {'image', 'mask', 'scribbles', 'hints', 'regions', 'labels'}
        What it holds (:data:`INPUT_KINDS`); masks and label maps must have the image's size.
    required : bool
        The method cannot run without it.
    role : str, optional
        The name front ends use when it differs from ``name``: a transfer's ``target_mask`` is the
        ``mask`` of the image, as a colorization's ``mask`` is, so every front end has one ``--mask``.
    help : str
        One sentence for help texts and the web form.
    size_of : str
        Masks, scribbles and label maps must have the size of this: ``'image'`` or another input's name
        (a ``reference_mask`` has the reference's size).
    """

    name: str
    kind: InputKind
    required: bool = False
    role: str | None = None
    help: str = ""
    size_of: str = "image"

    def __post_init__(self):
        if self.kind not in INPUT_KINDS:
            raise TypeError(f"Input {self.name}: unknown kind {self.kind!r}")

    @property
    def key(self) -> str:
        """The front ends' name of this input."""
        return self.role or self.name

    def schema(self) -> dict:
        return {"argument": self.name, "kind": self.kind, "required": self.required,
                "description": self.help or INPUT_KINDS[self.kind]}


@dataclass(frozen=True)
class Method:
    """A registered method: the function and what it needs.

    ``func`` is called as ``func(image, **inputs, **params)``: ``inputs`` keyed by each
    :class:`Input`'s ``name``. Front ends never map inputs themselves; :mod:`tinct.pipeline` does.
    """

    name: str
    kind: Kind
    func: Callable[..., Any]
    summary: str
    params: tuple[Param, ...] = ()
    inputs: tuple[Input, ...] = ()
    extra: str | None = None

    def check_available(self) -> None:
        """Raise a one-line error naming ``pip install "tinct[EXTRA]"`` when the method's extra is missing."""
        if self.extra:
            require_extra(self.extra, f"method {self.name!r}")

    def input(self, key: str) -> Input | None:
        """The input front ends call ``key`` (its role or name), or None when the method has none."""
        for i in self.inputs:
            if i.key == key:
                return i
        return None

    def need(self, key: str) -> Need:
        """``'required'``, ``'optional'`` or ``'none'``: whether the method takes the input ``key``."""
        i = self.input(key)
        return "none" if i is None else "required" if i.required else "optional"

    @property
    def path_params(self) -> tuple[str, ...]:
        """Parameters whose value names a file."""
        return tuple(p.name for p in self.params if p.path)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise ParameterError(f"{name}: not a parameter of method {self.name!r} (known: {known})")

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate keyword parameters; unknown names and bad values raise ParameterError."""
        return {k: self.param(k).validate(v) for k, v in params.items()}

    def parse(self, pairs: list[str]) -> dict[str, Any]:
        """Parse ``["k=v", ...]`` from the command line into validated parameters."""
        out: dict[str, Any] = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            if not sep or not key:
                raise ParameterError(f"--param: expected NAME=VALUE, got {pair!r}")
            out[key.strip().replace("-", "_")] = self.param(key.strip().replace("-", "_")).parse(text)
        return out

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def __call__(self, *args, **kwargs):
        self.check_available()
        return self.func(*args, **kwargs)

    def schema(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "extra": self.extra,
            "inputs": {i.key: i.schema() for i in self.inputs},
            "params": {p.name: p.schema() for p in self.params},
        }


_REGISTRY: dict[str, Method] = {}


def register(
    name: str,
    kind: Kind,
    summary: str,
    params: tuple[Param, ...] | list[Param] = (),
    *,
    inputs: tuple[Input, ...] | list[Input] = (),
    extra: str | None = None,
):
    """Decorator: register ``func`` as method ``name`` and validate its parameters on every call.

    The declared parameters and inputs must be keyword arguments of the function (parameters with
    the same defaults), which this checks once at import time. ``extra`` names the optional feature
    set the method needs (:data:`EXTRAS`, e.g. ``'cnn'`` for PyTorch).
    """

    def decorate(func):
        params_t = tuple(params)
        inputs_t = tuple(inputs)
        if extra is not None and extra not in EXTRAS:
            raise TypeError(f"{func.__name__}: unknown extra {extra!r}")
        sig = inspect.signature(func)
        for i in inputs_t:
            if i.name not in sig.parameters:
                raise TypeError(f"{func.__name__}: declared input {i.name!r} is not an argument")
        for p in params_t:
            if p.name not in sig.parameters:
                raise TypeError(f"{func.__name__}: declared parameter {p.name!r} is not an argument")
            default = sig.parameters[p.name].default
            if default != p.default:
                raise TypeError(f"{func.__name__}: default of {p.name!r} is {default!r}, registry says {p.default!r}")
        by_name = {p.name: p for p in params_t}

        @functools.wraps(func)
        def checked(*args, **kwargs):
            for key, value in kwargs.items():
                spec = by_name.get(key)
                if spec is not None:
                    kwargs[key] = spec.validate(value)
            return func(*args, **kwargs)

        if name in _REGISTRY and _REGISTRY[name].func.__wrapped__ is not func:  # type: ignore[attr-defined]
            raise ValueError(f"method {name!r} registered twice")
        _REGISTRY[name] = Method(name, kind, checked, summary, params_t, inputs_t, extra)
        return checked

    return decorate


#: Entry-point group through which other packages add methods: each entry names a module whose import
#: registers them (``[project.entry-points."tinct.methods"] mine = "mypkg.methods"``).
ENTRY_POINT_GROUP = "tinct.methods"

_loaded = False


def load_methods() -> None:
    """Import tinct's method modules (:mod:`tinct.methods`) and those of installed plugins (idempotent).

    A plugin that fails to import is reported once as a warning and left out, so that one broken
    package cannot take every other method down with it.
    """
    global _loaded
    if _loaded:
        return
    from tinct.methods import METHOD_MODULES

    for module in METHOD_MODULES:
        importlib.import_module(module)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            importlib.import_module(ep.value.partition(":")[0])
        except Exception as exc:  # noqa: BLE001 - third-party code
            warnings.warn(f"tinct: method plugin {ep.name!r} ({ep.value}) failed to load: "
                          f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
    _loaded = True


def load_plugin(module: str) -> None:
    """Import ``module`` so that the methods it registers become available (``--plugin``)."""
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise ParameterError(f"plugin: {module!r} is not a Python module name")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ParameterError(f"plugin: cannot import {module!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a plugin's own bug, reported in one line
        raise ParameterError(f"plugin: importing {module!r} failed: {type(exc).__name__}: {exc}") from None


def get_method(name: str, kind: Kind | None = None) -> Method:
    """Look a method up by name, optionally requiring a kind."""
    load_methods()
    method = _REGISTRY.get(name)
    if method is None or (kind is not None and method.kind != kind):
        names = ", ".join(m.name for m in list_methods(kind))
        what = f"{kind} method" if kind else "method"
        raise UnknownMethodError(f"unknown {what} {name!r}; available: {names}")
    return method


def list_methods(kind: Kind | None = None) -> list[Method]:
    """All registered methods (of one kind if given), sorted by name."""
    load_methods()
    return sorted((m for m in _REGISTRY.values() if kind is None or m.kind == kind), key=lambda m: m.name)
