"""The sweep's own settings: its name and where it stores results."""

from __future__ import annotations

import re
from typing import Any

from raydd.spec.problems import _INVALID, _Problems, _shown


DEFAULT_STORAGE = "./runs"
STORAGE_SCHEMES = ("s3", "gs")  # object stores every node of a cluster can reach
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def name_problem(value: Any) -> str | None:
    """Why `value` cannot name a sweep (it becomes a directory name), or None."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        return (f"{_shown(value)} is not filesystem-safe: use 1-64 letters, digits, '_' or '-', "
                "starting with a letter or digit")
    return None


def _check_name(value: Any, problems: _Problems) -> Any:
    problem = name_problem(value)
    if problem:
        problems.add("name", problem)
        return _INVALID
    return value


def _check_storage(value: Any, place: str, problems: _Problems) -> Any:
    """A local path, or s3://bucket/prefix, gs://bucket/prefix."""
    if not isinstance(value, str) or not value.strip():
        problems.add(place, f"must be a local path or s3:// / gs:// location, got {_shown(value)}")
        return _INVALID
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", value)
    if scheme is None:
        return value
    if scheme.group(1).lower() not in STORAGE_SCHEMES:
        problems.add(place, f"unsupported storage scheme {scheme.group(1)!r}; use a local path, "
                            "s3://bucket/prefix or gs://bucket/prefix")
        return _INVALID
    if not scheme.group(2).split("/")[0]:
        problems.add(place, f"{value!r} names no bucket")
        return _INVALID
    return value
