"""Checking one field of a core config dataclass by its type hint, then by the class itself."""

from __future__ import annotations

import functools
import math
import types
import typing
from typing import Any, Iterable

from raydd.spec.problems import _INVALID, _Problems, _join, _shown



def _convert(value: Any, hint: Any) -> tuple[bool, Any]:
    """Does `value` fit the field type `hint`? Returns (fits, value converted to it)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            fits, converted = _convert(value, arm)
            if fits:
                return True, converted
        return False, None
    if hint is type(None):
        return value is None, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return fits, float(value) if fits else None
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, None
        items = [_convert(v, typing.get_args(hint)[0]) for v in value]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    return True, value


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0]).split(' ', 1)[-1]}s"
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _field_value(cls: type, field: str, value: Any, place: str, problems: _Problems, base: dict) -> Any:
    """Check one field of `cls` by its type, then by `cls` itself (built from `base` + this field)."""
    hint = _hints(cls)[field]
    fits, converted = _convert(value, hint)
    if not fits:
        problems.add(place, f"must be {_describe(hint)}, got {_shown(value)}")
        return _INVALID
    try:
        cls(**{**base, field: converted})
    except (ValueError, TypeError) as error:
        problems.add(place, _strip_field(str(error), cls, field))
        return _INVALID
    return converted


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # slow (it evaluates every annotation): once per class


def _strip_field(message: str, cls: type, field: str) -> str:
    """`EvalConfig: lr must be > 0` -> `must be > 0` (the place already names the field)."""
    message = message.removeprefix(f"{cls.__name__}: ")
    return message.removeprefix(f"{field} ")


def _field_place(message: str, cls: type, section: str, present: Iterable[str]) -> str:
    """Place of a whole-config error: the field it names when the file set that field."""
    message = message.removeprefix(f"{cls.__name__}: ")
    for name in present:
        if message.startswith(f"{name} "):
            return _join(section, name)
    return section
