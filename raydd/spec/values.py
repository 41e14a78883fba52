"""Value checks: each returns the value (converted) or _INVALID after recording a problem."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from raydd.core.archs import ARCHS
from raydd.spec.problems import _INVALID, _Problems, _join, _known, _shown, _unknown_key



def _section(value: Any, place: str, problems: _Problems, allowed: Iterable[str],
             required: Iterable[str] = ()) -> dict | Any:
    """A mapping whose keys are all known; unknown keys get close-match suggestions."""
    allowed, required = list(allowed), list(required)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        problems.add(place or "(file)", f"must be a mapping of settings, got {_shown(value)}")
        return _INVALID
    for key in value:
        if key not in allowed:
            problems.add(_join(place, key), _unknown_key(str(key), allowed))
    for key in required:
        if key not in value:
            problems.add(_join(place, key), "missing (required)")
    return {k: v for k, v in value.items() if k in allowed}


def _int(value: Any, place: str, problems: _Problems, minimum: int = 1, too_small: str | None = None) -> Any:
    """An integer >= minimum; `too_small` rewords the message for an integer below it."""
    wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and value >= minimum:
        return value
    problems.add(place, f"must be {too_small if is_int and too_small else wanted}, got {_shown(value)}")
    return _INVALID


def _number(value: Any, place: str, problems: _Problems, *, above: float | None = None,
            at_least: float | None = None, below: float | None = None) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.add(place, f"must be a number, got {_shown(value)}")
        return _INVALID
    failed = [text for bound, ok, text in (
        (above, lambda: value > above, f"> {above}"),
        (at_least, lambda: value >= at_least, f">= {at_least}"),
        (below, lambda: value < below, f"< {below}"),
    ) if bound is not None and not ok()]
    if failed:
        problems.add(place, f"must be {' and '.join(failed)}, got {value}")
        return _INVALID
    return float(value)


def _string(value: Any, place: str, problems: _Problems) -> Any:
    if not isinstance(value, str) or not value:
        problems.add(place, f"must be a non-empty string, got {_shown(value)}")
        return _INVALID
    return value


def _bool(value: Any, place: str, problems: _Problems) -> Any:
    if not isinstance(value, bool):
        problems.add(place, f"must be true or false, got {_shown(value)}")
        return _INVALID
    return value


def _arch(value: Any, place: str, problems: _Problems) -> Any:
    if _string(value, place, problems) is _INVALID:
        return _INVALID
    if value not in ARCHS:
        problems.add(place, f"unknown architecture {value!r}; known: {_known(ARCHS)}")
        return _INVALID
    return value


def _list(value: Any, place: str, problems: _Problems, item: Callable[[Any, str, _Problems], Any],
          *, allow_empty: bool = False) -> Any:
    """A list whose items each pass `item` and appear once."""
    if not isinstance(value, list):
        problems.add(place, f"must be a list, got {_shown(value)}")
        return _INVALID
    if not value and not allow_empty:
        problems.add(place, "is empty; give at least one value")
        return _INVALID
    checked = [item(v, f"{place}[{i}]", problems) for i, v in enumerate(value)]
    _report_duplicates(checked, place, problems)
    return _INVALID if any(v is _INVALID for v in checked) else tuple(checked)


def _report_duplicates(values: list, place: str, problems: _Problems) -> bool:
    first: dict[Any, int] = {}
    found = False
    for index, value in enumerate(values):
        if value is _INVALID:
            continue
        if value in first:
            problems.add(f"{place}[{index}]", f"duplicate of {place}[{first[value]}]")
            found = True
        else:
            first[value] = index
    return found


def _build(make: Callable[[], Any], place: str, problems: _Problems) -> Any:
    """Call a core constructor; its ValueError becomes a problem at `place`."""
    try:
        return make()
    except ValueError as error:
        problems.add(place, str(error))
        return _INVALID
