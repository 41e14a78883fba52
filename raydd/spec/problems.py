"""Collecting problems with their places (`grid.pool[2].probabilities`) and the lines they sit on."""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Iterable

import yaml


_INVALID = object()  # a value that failed its check (None can be a valid value)


class _Problems:
    """Collects (place, message) pairs; places look like `grid.pool[2].probabilities`."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, place: str, message: str) -> None:
        self.items.append((place, message))

    def __len__(self) -> int:
        return len(self.items)

    def lines(self, line_of: dict[str, int]) -> list[str]:
        out = []
        for place, message in self.items:
            line = _nearest_line(place, line_of)
            out.append(f"{place}: {message}" + (f" (line {line})" if line else ""))
        return out


def _join(place: str, key: object) -> str:
    return f"{place}.{key}" if place else str(key)


def _line_map(node: yaml.Node | None, place: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Place -> 1-based line of every key and list item in the composed YAML tree."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = _join(place, key.value)
            out.setdefault(child, key.start_mark.line + 1)
            _line_map(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{place}[{index}]"
            out.setdefault(child, item.start_mark.line + 1)
            _line_map(item, child, out)
    return out


def _nearest_line(place: str, line_of: dict[str, int]) -> int | None:
    """The line of `place`, or of its closest enclosing setting (a missing key's parent)."""
    while place:
        if place in line_of:
            return line_of[place]
        parent = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", place)
        if parent == place:
            break
        place = parent
    return None


def _yaml_problem(error: yaml.YAMLError) -> str:
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


def _known(registry: Iterable[str]) -> str:
    return ", ".join(registry)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
