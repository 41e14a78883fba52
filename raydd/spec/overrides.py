"""`key.path=value` overrides of a sweep file (`raydd sweep submit FILE distill.iterations=10`).

An override sets one setting of the parsed file before validation, so it is checked exactly as
the file is; its value is YAML (`10`, `dsa`, `[1, 10]`, `{cpu: 2}`), read by the spec loader's
bounded safe loader, never evaluated. Problems name the override where a file's name its line:
`distill.iterations: must be a positive integer, got 'abc' (override distill.iterations=abc)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raydd.spec.checks import shown

EXAMPLE = "distill.iterations=10"


class OverrideError(ValueError):
    """An override that is not `key.path=value`."""


@dataclass(frozen=True)
class Override:
    text: str  # as given, `distill.iterations=10`
    keys: tuple[str, ...]  # ("distill", "iterations")
    value_text: str  # "10": YAML

    @property
    def place(self) -> str:
        return ".".join(self.keys)

    @property
    def label(self) -> str:
        """What a problem names instead of a line of the file (a long value cut, as `shown` cuts)."""
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"override {text}"


def parse_override(text: str) -> Override:
    key_path, equals, value_text = text.partition("=")
    if not equals:
        raise OverrideError(f"override {shown(text)} has no '=': write key.path=value, e.g. {EXAMPLE}")
    if not key_path.strip():
        raise OverrideError(f"override {shown(text)} has no key path before '=': write key.path=value, "
                            f"e.g. {EXAMPLE}")
    keys = tuple(key_path.split("."))
    if not all(k.strip() for k in keys):
        raise OverrideError(f"override {shown(text)} has an empty key in its key path: write key.path=value, "
                            f"e.g. {EXAMPLE}")
    return Override(text, tuple(k.strip() for k in keys), value_text)


def set_value(raw: dict, override: Override, value: Any) -> str | None:
    """Put `value` at the override's place in the parsed file, making the sections it names that
    are missing (or null); returns why it cannot (a setting on its path is not a mapping), else None."""
    node = raw
    for depth, key in enumerate(override.keys[:-1], start=1):
        if node.get(key) is None:
            node[key] = {}
        elif not isinstance(node[key], dict):
            place = ".".join(override.keys[:depth])
            return f"{place} is {shown(node[key])}, not a mapping of settings, so {override.place} cannot be set"
        node = node[key]
    node[override.keys[-1]] = value
    return None


def relabel(lines: dict[str, int | str], override: Override) -> None:
    """The line map after the override: its place, and all beneath it, name the override."""
    place = override.place
    for known in [p for p in lines if p == place or p.startswith((f"{place}.", f"{place}["))]:
        del lines[known]
    lines[place] = override.label
