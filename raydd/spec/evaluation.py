"""The `evaluation:` section: students, teacher, KD modes, seeds and the EvalConfig settings."""

from __future__ import annotations

import dataclasses
from typing import Any

from raydd.core.evaluate import EvalConfig
from raydd.spec.fields import _field_place, _field_value
from raydd.spec.model import EvaluationSpec
from raydd.spec.problems import _INVALID, _Problems, _join, _shown
from raydd.spec.values import _arch, _int, _list, _section


KD_WORDS = {"on": True, "off": False, "true": True, "false": False}


def _kd_mode(value: Any, place: str, problems: _Problems) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in KD_WORDS:
        return KD_WORDS[value.lower()]
    problems.add(place, f"must be off or on, got {_shown(value)}")
    return _INVALID


def _parse_evaluation(value: Any, problems: _Problems) -> Any:
    before = len(problems)
    entry = _section(value, "evaluation", problems, ["students", "kd", "seeds", *_eval_fields()],
                     required=("students",))
    if entry is _INVALID:
        return _INVALID
    students = _list(entry.get("students", []), "evaluation.students", problems, _arch)
    kd_modes = _list(entry.get("kd", [False]), "evaluation.kd", problems, _kd_mode)
    seeds = _int(entry.get("seeds", 1), "evaluation.seeds", problems)
    if "teacher" in entry:
        _arch(entry["teacher"], "evaluation.teacher", problems)
    settings = {k: v for k, v in entry.items() if k not in ("students", "kd", "seeds")}
    config_fields = {k: _field_value(EvalConfig, k, v, _join("evaluation", k), problems, {})
                     for k, v in settings.items()}
    if len(problems) > before:
        return _INVALID
    try:
        config = EvalConfig(**config_fields)
    except ValueError as error:
        problems.add(_field_place(str(error), EvalConfig, "evaluation", settings), str(error))
        return _INVALID
    return EvaluationSpec(students, config.teacher, kd_modes, seeds, config)


def _eval_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(EvalConfig)]
