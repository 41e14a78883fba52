"""The `distill:` section (settings fixed for every trial) and the `grid:` axes over the same fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from raydd.core.distill import DistillConfig
from raydd.spec.fields import _field_value
from raydd.spec.pools import _pool
from raydd.spec.problems import _INVALID, _Problems, _join, _shown
from raydd.spec.values import _int, _report_duplicates, _section


# Distillation fields that count things: zero makes no sense for any of them.
POSITIVE_INT_FIELDS = ("ipc", "batch_real", "batch_train", "outer_loop", "inner_loop", "bn_batch_per_class")


def _distill_value(field: str, value: Any, place: str, problems: _Problems) -> Any:
    if field == "pool":
        return _pool(value, place, problems)
    if field in POSITIVE_INT_FIELDS and value is not None:
        if _int(value, place, problems) is _INVALID:
            return _INVALID
    return _field_value(DistillConfig, field, value, place, problems, {})


def _parse_distill(value: Any, problems: _Problems) -> Any:
    entry = _section(value, "distill", problems, _distill_fields())
    if entry is _INVALID:
        return _INVALID
    checked = {k: _distill_value(k, v, _join("distill", k), problems) for k, v in entry.items()}
    return {k: v for k, v in checked.items() if v is not _INVALID}


def _parse_grid(value: Any, raw_distill: Any, problems: _Problems) -> dict[str, tuple]:
    entry = _section(value, "grid", problems, _distill_fields())
    if entry is _INVALID:
        return {}
    axes = {}
    for axis, values in entry.items():
        place = _join("grid", axis)
        if isinstance(raw_distill, dict) and axis in raw_distill:
            problems.add(place, f"also set in distill.{axis}; set it in one place")
        if not isinstance(values, list):
            problems.add(place, f"must be a list of values (one per trial), got {_shown(values)}")
            continue
        if not values:
            problems.add(place, "is empty; give at least one value")
            continue
        checked = [_distill_value(axis, v, f"{place}[{i}]", problems) for i, v in enumerate(values)]
        _report_duplicates(checked, place, problems)
        axes[axis] = tuple(checked)
    return axes


def _distill_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(DistillConfig) if f.name != "dataset"]
