"""JSON form fields under bounds: length, nesting depth, digits of integers, size of numbers.

The router's ``params`` and the colour-guidance fields (``hints``, ``regions``) are read with the
same bounds, checked before Python builds any object: a depth scan without recursion, integers of at
most :data:`MAX_DIGITS` digits (Python's int parsing is quadratic in the digits), numbers written
with at most 64 characters.
"""

from __future__ import annotations

import json
import math

MAX_DIGITS = 15  # integers with more digits are refused before Python converts them


class JsonFieldError(ValueError):
    """A refused field: a one-line message (without the field's name)."""


def parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise JsonFieldError(f"a number has more than {MAX_DIGITS} digits ({text[:20]}...)")
    return int(text)


def parse_float(text: str) -> float:
    if len(text) > 64:
        raise JsonFieldError(f"a number is written with more than 64 characters ({text[:20]}...)")
    value = float(text)
    if not math.isfinite(value):
        raise JsonFieldError(f"{text[:20]} is out of range")
    return value


def parse_float_any(text: str) -> float:
    """A float of at most 64 characters, ``inf`` and ``nan`` included (for callers that name the entry)."""
    if len(text) > 64:
        raise JsonFieldError(f"a number is written with more than 64 characters ({text[:20]}...)")
    return float(text)


def refuse_constant(text: str):
    raise JsonFieldError(f"{text} is not a number")


def depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` outside strings (a linear scan, no recursion)."""
    level = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def load(text: str, *, max_chars: int, max_depth: int, keep_nan: bool = False):
    """``text`` parsed as JSON within the bounds; raises :class:`JsonFieldError` in one line.

    ``keep_nan`` lets ``NaN`` and ``Infinity`` through as floats, for a caller that refuses them
    itself and names the entry that holds one.
    """
    if len(text) > max_chars:
        raise JsonFieldError(f"longer than {max_chars:,} characters")
    if depth(text) > max_depth:
        raise JsonFieldError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float_any if keep_nan else parse_float,
                          parse_constant=float if keep_nan else refuse_constant)
    except json.JSONDecodeError as exc:
        raise JsonFieldError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except JsonFieldError:
        raise
    except (ValueError, RecursionError, OverflowError) as exc:
        raise JsonFieldError(str(exc)) from None
