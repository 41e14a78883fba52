"""Reading a whole sweep file: every section checked, every problem raised at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raydd.spec.dataset import _parse_dataset
from raydd.spec.distill import _parse_distill, _parse_grid
from raydd.spec.evaluation import _parse_evaluation
from raydd.spec.grid import _expand
from raydd.spec.model import SpecError, SweepSpec, TrialPoint
from raydd.spec.problems import _INVALID, _Problems, _line_map, _yaml_problem
from raydd.spec.resources import _parse_resources
from raydd.spec.top_level import DEFAULT_STORAGE, _check_name, _check_storage
from raydd.spec.values import _section


SWEEP_KEYS = ("name", "storage", "dataset", "distill", "grid", "evaluation", "resources")


def load_spec(path: str | Path, *, storage: str | None = None) -> SweepSpec:
    """Read and validate a sweep file; `storage` overrides the file's `storage:`."""
    source = str(path)
    path = Path(path)
    if not path.is_file():
        why = "is a directory, not a sweep file" if path.is_dir() else "no such file"
        raise SpecError([f"{source}: {why}"], source)
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise SpecError([_yaml_problem(error)], source) from None
    return _parse(raw, source, lines, storage_override=storage)


def parse_spec(raw: dict, *, source_name: str = "<sweep>") -> SweepSpec:
    """Validate an already parsed sweep description (the YAML as Python objects)."""
    return _parse(raw, source_name, {})


def _parse(raw: Any, source: str, lines: dict[str, int], storage_override: str | None = None) -> SweepSpec:
    problems = _Problems()
    if raw is None:
        raise SpecError([f"{source}: the file is empty"], source)
    top = _section(raw, "", problems, SWEEP_KEYS, required=("name", "dataset", "evaluation"))
    if top is _INVALID:
        raise SpecError(problems.lines(lines), source)
    name = _check_name(top["name"], problems) if "name" in top else _INVALID
    if storage_override is not None:
        storage = _check_storage(storage_override, "--storage", problems)
    else:
        storage = _check_storage(top.get("storage", DEFAULT_STORAGE), "storage", problems)
    dataset = _parse_dataset(top["dataset"], problems) if "dataset" in top else _INVALID
    fixed = _parse_distill(top.get("distill"), problems)
    fixed = {} if fixed is _INVALID else fixed
    axes = _parse_grid(top.get("grid"), top.get("distill"), problems)
    evaluation = _parse_evaluation(top["evaluation"], problems) if "evaluation" in top else _INVALID
    resources = _parse_resources(top.get("resources"), problems)
    points: tuple[TrialPoint, ...] = ()
    if not problems and dataset is not _INVALID:
        points = _expand(axes, fixed, dataset.name, problems)
    if problems:
        raise SpecError(problems.lines(lines), source)
    return SweepSpec(name, storage, dataset, evaluation, resources, points, raw)
