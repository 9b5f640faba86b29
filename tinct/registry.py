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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tinct.errors import ParameterError, UnknownMethodError

Kind = Literal["transfer", "colorize"]
Need = Literal["required", "optional", "none"]

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


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
    """

    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.type not in _TYPES:
            raise TypeError(f"Param {self.name}: unknown type {self.type!r}")

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
        return out


@dataclass(frozen=True)
class Method:
    """A registered method: the function and what it needs.

    ``func`` is called as ``func(image, **inputs, **params)``, where inputs
    are ``reference``, ``mask``/``reference_mask`` and ``scribbles`` as the
    method declares them.
    """

    name: str
    kind: Kind
    func: Callable[..., Any]
    summary: str
    params: tuple[Param, ...] = ()
    reference: Need = "none"
    mask: bool = False
    scribbles: Need = "none"
    extra_inputs: tuple[str, ...] = field(default=())

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
        return self.func(*args, **kwargs)

    def schema(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "inputs": {"reference": self.reference, "mask": self.mask, "scribbles": self.scribbles,
                       "extra": list(self.extra_inputs)},
            "params": {p.name: p.schema() for p in self.params},
        }


_REGISTRY: dict[str, Method] = {}


def register(
    name: str,
    kind: Kind,
    summary: str,
    params: tuple[Param, ...] | list[Param] = (),
    *,
    reference: Need = "none",
    mask: bool = False,
    scribbles: Need = "none",
    extra_inputs: tuple[str, ...] = (),
):
    """Decorator: register ``func`` as method ``name`` and validate its parameters on every call.

    The declared parameters must be keyword arguments of the function with the
    same defaults, which this checks once at import time.
    """

    def decorate(func):
        params_t = tuple(params)
        sig = inspect.signature(func)
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
        _REGISTRY[name] = Method(name, kind, checked, summary, params_t, reference, mask, scribbles, tuple(extra_inputs))
        return checked

    return decorate


def load_methods() -> None:
    """Import every method module listed in :mod:`tinct.methods` (idempotent)."""
    from tinct.methods import METHOD_MODULES

    for module in METHOD_MODULES:
        importlib.import_module(module)


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
