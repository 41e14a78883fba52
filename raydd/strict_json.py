"""JSON as the standard defines it: NaN and infinities are neither written nor read.

Python's `json` writes a NaN as the bare token `NaN` and reads it back, which no other JSON reader
accepts. Everything raydd writes (meta.json, result rows, the sweep description) goes through
`dumps`, and what it reads back through `loads`; both raise ValueError on a non-finite number,
and `loads` on an object that gives a key twice (Python keeps the last one silently).
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any, **options: Any) -> str:
    return json.dumps(value, allow_nan=False, **options)


def loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_without_repeats)


def _without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, refused when it gives a key twice (Python's json keeps the last silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"key {key!r} appears twice in one object")
        found[key] = value
    return found


def _refuse_constant(token: str) -> None:
    raise ValueError(f"{token} is not a JSON number")
