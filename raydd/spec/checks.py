"""Problems with their places, and the checks of single values that record them.

A place reads `grid.pool[2].probabilities`; `Problems` collects (place, message) pairs and gives
each its line in the file when it is known. Each check returns the value (converted) or `INVALID`
after recording a problem, so that one pass over the file reports everything wrong with it.
Fields of the core's config dataclasses are checked by their type hints, then by the class itself:
the core's own rules, re-reported at their place.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import types
import typing
from typing import Any, Callable, Iterable

import yaml

from raydd.core.archs import ARCHS

INVALID = object()  # a value that failed its check (None can be a valid value)
STORAGE_SCHEMES = ("s3", "gs")  # object stores every node of a cluster can reach
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Problems:
    """Collects (place, message) pairs; places look like `grid.pool[2].probabilities`."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, place: str, message: str) -> None:
        self.items.append((place, message))

    def __len__(self) -> int:
        return len(self.items)

    def lines(self, line_of: dict[str, int | str]) -> list[str]:
        """`place: message (line N)`; a place an override set names it instead of a line."""
        out = []
        for place, message in self.items:
            line = _nearest_line(place, line_of)
            where = line if isinstance(line, str) else f"line {line}"
            out.append(f"{place}: {message}" + (f" ({where})" if line else ""))
        return out


def join(place: str, key: object) -> str:
    return f"{place}.{key}" if place else str(key)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- places and lines ----------------------------------------------------------------------------
def line_map(node: yaml.Node | None, place: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Place -> 1-based line of every key and list item in the composed YAML tree."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = join(place, key.value)
            out.setdefault(child, key.start_mark.line + 1)
            line_map(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{place}[{index}]"
            out.setdefault(child, item.start_mark.line + 1)
            line_map(item, child, out)
    return out


def _nearest_line(place: str, line_of: dict[str, int | str]) -> int | str | None:
    """The line of `place`, or of its closest enclosing setting (a missing key's parent)."""
    while place:
        if place in line_of:
            return line_of[place]
        parent = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", place)
        if parent == place:
            break
        place = parent
    return None


def yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return f"{where}: invalid YAML: {problem}" + (f" ({context})" if context else "")


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=3, cutoff=0.6)
    # abbreviations (`probs`) are too short for difflib's ratio; a shared prefix names them
    close = close or [a for a in allowed if len(os.path.commonprefix([key, a])) >= 4]
    if close:
        return f"unknown setting; did you mean {' or '.join(close)}?"
    return f"unknown setting; known: {', '.join(allowed)}"


# ---- single values -------------------------------------------------------------------------------
def check_section(value: Any, place: str, problems: Problems, allowed: Iterable[str],
                  required: Iterable[str] = ()) -> dict | Any:
    """A mapping whose keys are all known; unknown keys get close-match suggestions."""
    allowed, required = list(allowed), list(required)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        problems.add(place or "(file)", f"must be a mapping of settings, got {shown(value)}")
        return INVALID
    for key in value:
        if key not in allowed:
            problems.add(join(place, key), _unknown_key(str(key), allowed))
    for key in required:
        if key not in value:
            problems.add(join(place, key), "missing (required)")
    return {k: v for k, v in value.items() if k in allowed}


def check_int(value: Any, place: str, problems: Problems, minimum: int = 1, too_small: str | None = None) -> Any:
    """An integer >= minimum; `too_small` rewords the message for an integer below it."""
    wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and value >= minimum:
        return value
    problems.add(place, f"must be {too_small if is_int and too_small else wanted}, got {shown(value)}")
    return INVALID


def check_number(value: Any, place: str, problems: Problems, *, above: float | None = None,
                 at_least: float | None = None) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.add(place, f"must be a number, got {shown(value)}")
        return INVALID
    failed = [text for bound, ok, text in (
        (above, lambda: value > above, f"> {above}"),
        (at_least, lambda: value >= at_least, f">= {at_least}"),
    ) if bound is not None and not ok()]
    if failed:
        problems.add(place, f"must be {' and '.join(failed)}, got {value}")
        return INVALID
    return float(value)


def check_string(value: Any, place: str, problems: Problems) -> Any:
    if not isinstance(value, str) or not value:
        problems.add(place, f"must be a non-empty string, got {shown(value)}")
        return INVALID
    return value


def check_bool(value: Any, place: str, problems: Problems) -> Any:
    if not isinstance(value, bool):
        problems.add(place, f"must be true or false, got {shown(value)}")
        return INVALID
    return value


def check_arch(value: Any, place: str, problems: Problems) -> Any:
    if check_string(value, place, problems) is INVALID:
        return INVALID
    if value not in ARCHS:
        problems.add(place, f"unknown architecture {value!r}; known: {', '.join(ARCHS)}")
        return INVALID
    return value


def check_list(value: Any, place: str, problems: Problems, item: Callable[[Any, str, Problems], Any],
               *, allow_empty: bool = False, unique: bool = True) -> Any:
    """A list whose items each pass `item` (and, when `unique`, appear once)."""
    if not isinstance(value, list):
        problems.add(place, f"must be a list, got {shown(value)}")
        return INVALID
    if not value and not allow_empty:
        problems.add(place, "is empty; give at least one value")
        return INVALID
    checked = [item(v, f"{place}[{i}]", problems) for i, v in enumerate(value)]
    if unique:
        report_duplicates(checked, place, problems)
    return INVALID if any(v is INVALID for v in checked) else tuple(checked)


def report_duplicates(values: list, place: str, problems: Problems) -> bool:
    first: dict[Any, int] = {}
    found = False
    for index, value in enumerate(values):
        if value is INVALID:
            continue
        if value in first:
            problems.add(f"{place}[{index}]", f"duplicate of {place}[{first[value]}]")
            found = True
        else:
            first[value] = index
    return found


def by_core(make: Callable[[], Any], place: str, problems: Problems) -> Any:
    """Call a core constructor or check; its ValueError becomes a problem at `place`."""
    try:
        return make()
    except ValueError as error:
        problems.add(place, str(error))
        return INVALID


# ---- the sweep's name and storage ------------------------------------------------------------------
def name_problem(value: Any) -> str | None:
    """Why `value` cannot name a sweep (it becomes a directory name), or None."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        return (f"{shown(value)} is not filesystem-safe: use 1-64 letters, digits, '_' or '-', "
                "starting with a letter or digit")
    return None


def check_name(value: Any, problems: Problems) -> Any:
    problem = name_problem(value)
    if problem:
        problems.add("name", problem)
        return INVALID
    return value


def check_storage(value: Any, place: str, problems: Problems) -> Any:
    """A local path, or s3://bucket/prefix, gs://bucket/prefix."""
    if not isinstance(value, str) or not value.strip():
        problems.add(place, f"must be a local path or s3:// / gs:// location, got {shown(value)}")
        return INVALID
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", value)
    if scheme is None:
        return value
    if scheme.group(1).lower() not in STORAGE_SCHEMES:
        problems.add(place, f"unsupported storage scheme {scheme.group(1)!r}; use a local path, "
                            "s3://bucket/prefix or gs://bucket/prefix")
        return INVALID
    if not scheme.group(2).split("/")[0]:
        problems.add(place, f"{value!r} names no bucket")
        return INVALID
    return value


# ---- fields of the core's config dataclasses ------------------------------------------------------
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


def check_field(cls: type, field: str, value: Any, place: str, problems: Problems) -> Any:
    """One field of `cls`, checked by its type, then by `cls` itself (built with this field alone)."""
    hint = _hints(cls)[field]
    fits, converted = _convert(value, hint)
    if not fits:
        problems.add(place, f"must be {_describe(hint)}, got {shown(value)}")
        return INVALID
    try:
        cls(**{field: converted})
    except (ValueError, TypeError) as error:
        problems.add(place, _strip_field(str(error), cls, field))
        return INVALID
    return converted


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # slow (it evaluates every annotation): once per class


def _strip_field(message: str, cls: type, field: str) -> str:
    """`EvalConfig: lr must be > 0` -> `must be > 0` (the place already names the field)."""
    message = message.removeprefix(f"{cls.__name__}: ")
    return message.removeprefix(f"{field} ")


def field_place(message: str, cls: type, section: str, present: Iterable[str]) -> str:
    """Place of a whole-config error: the field it names when the file set that field."""
    message = message.removeprefix(f"{cls.__name__}: ")
    for name in present:
        if message.startswith(f"{name} "):
            return join(section, name)
    return section
