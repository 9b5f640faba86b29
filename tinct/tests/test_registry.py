import numpy as np
import pytest

from tinct.errors import ParameterError, UnknownMethodError
from tinct.registry import Param, get_method, list_methods, register


def test_every_registered_method_is_consistent():
    from tinct.methods import METHOD_MODULES

    # Only what tinct ships: other tests register test-only methods in this process.
    methods = [m for m in list_methods() if m.func.__module__ in METHOD_MODULES]
    assert len(methods) >= len(METHOD_MODULES), "a method module registers nothing"
    for m in methods:
        assert m.kind in ("transfer", "colorize")
        doc = m.func.__doc__ or ""
        assert "Parameters" in doc and "References" in doc, f"{m.name}: numpydoc Parameters and References"
        schema = m.schema()
        assert set(schema["params"]) == {p.name for p in m.params}
        for p in m.params:
            assert p.validate(p.default) == p.default


def test_reinhard_is_registered_as_transfer():
    m = get_method("reinhard", "transfer")
    assert m.need("reference") == "required" and m.need("mask") == "optional" and m.need("scribbles") == "none"
    assert m.input("mask").name == "target_mask"  # the front ends' --mask is a transfer's target_mask
    with pytest.raises(UnknownMethodError, match="unknown colorize method 'reinhard'"):
        get_method("reinhard", "colorize")
    with pytest.raises(UnknownMethodError, match="available: .*reinhard"):
        get_method("no-such-method")


@pytest.mark.parametrize(
    "text, message",
    [("strength=2", "strength: must be <= 1.0"), ("strength=abc", "strength: expected float"),
     ("strength", "expected NAME=VALUE"), ("colour=3", "not a parameter of method 'reinhard'"),
     ("keep_lightness=maybe", "keep_lightness: expected true or false")],
)
def test_cli_parameter_parsing_errors(text, message):
    with pytest.raises(ParameterError, match=message):
        get_method("reinhard").parse([text])


def test_cli_parameter_parsing_converts_types():
    assert get_method("reinhard").parse(["strength=0.5", "keep-lightness=yes"]) == {
        "strength": 0.5, "keep_lightness": True}


def test_registered_function_validates_api_calls():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ParameterError, match="strength"):
        get_method("reinhard")(img, img, strength=-1)
    with pytest.raises(ParameterError, match="strength"):
        get_method("reinhard")(img, img, strength=float("nan"))


def test_register_checks_declared_defaults():
    with pytest.raises(TypeError, match="default"):
        @register("bad-defaults", "transfer", "x", [Param("k", "int", 3, "h")])
        def f(target, reference, *, k=4):
            return target
    with pytest.raises(TypeError, match="not an argument"):
        @register("bad-name", "transfer", "x", [Param("k", "int", 3, "h")])
        def g(target, reference):
            return target


def test_param_choices_and_schema():
    p = Param("space", "str", "lab", "colour space", choices=("lab", "rgb"))
    assert p.parse("rgb") == "rgb"
    with pytest.raises(ParameterError, match="one of lab, rgb"):
        p.parse("hsv")
    assert p.schema() == {"type": "string", "default": "lab", "description": "colour space", "enum": ["lab", "rgb"]}
    q = Param("k", "int", 3, "components", min=1, max=20)
    assert q.validate(4.0) == 4
    with pytest.raises(ParameterError):
        q.validate(2.5)
    with pytest.raises(ParameterError):
        q.validate(True)
