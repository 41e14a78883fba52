"""`evaluation.sets`: synthetic sets made by other codes, evaluated beside the sweep's own.

Each entry is a path, or `{path, normalized, experiment}` (as `raydd evaluate`'s flags). The set
is read and checked against the sweep's dataset while the file is validated (format, labels,
shape, class count, normalisation), and becomes a point evaluated as the baselines are: stored as
an artifact under the sweep's `synsets/` before any trial starts, then trained on by every
student, KD mode and seed. Its trial key is its file or folder name, as in `raydd evaluate`'s rows.
A relative path is read from the directory the sweep runs in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raydd.core.datasets import DATASETS
from raydd.core.distill import DistillConfig
from raydd.core.foreign import FOREIGN_METHOD, NORMALIZED_CHOICES, load_foreign_set
from raydd.spec.checks import INVALID, Problems, by_core, check_int, check_section, check_string, join, shown
from raydd.spec.grid import KEY_UNSAFE, shorten_key
from raydd.spec.model import TrialPoint

SET_KEYS = ("path", "normalized", "experiment")
YAML_WORDS = {True: "yes", False: "no"}  # YAML reads a bare yes/no as a boolean


def parse_sets(evaluation: Any, dataset: Any, problems: Problems) -> tuple[TrialPoint, ...]:
    """The points of `evaluation.sets` (absent: none), each set read and checked for `dataset`
    (a DatasetSpec; INVALID: the entries are checked, the files not read)."""
    value = evaluation.get("sets") if isinstance(evaluation, dict) else None
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add("evaluation.sets", f"must be a list of paths, got {shown(value)}")
        return ()
    points, seen = [], {}
    for index, entry in enumerate(value):
        place = f"evaluation.sets[{index}]"
        point = _set_point(entry, place, dataset, problems)
        if point is INVALID:
            continue
        if point.trial_key in seen:
            problems.add(place, f"is named {point.trial_key!r}, as {seen[point.trial_key]} is; rename one "
                                "(a set's name is its key in the result rows)")
            continue
        seen[point.trial_key] = place
        points.append(point)
    return tuple(points)


def _set_point(entry: Any, place: str, dataset: Any, problems: Problems) -> Any:
    before = len(problems)
    entry = check_section({"path": entry} if isinstance(entry, str) else entry, place, problems, SET_KEYS,
                          required=("path",))
    if entry is INVALID or "path" not in entry:
        return INVALID
    check_string(entry["path"], join(place, "path"), problems)
    normalized = entry.get("normalized")
    normalized = YAML_WORDS[normalized] if isinstance(normalized, bool) else normalized
    if normalized is not None and normalized not in NORMALIZED_CHOICES:
        problems.add(join(place, "normalized"), f"must be one of {', '.join(NORMALIZED_CHOICES)}, got {shown(normalized)}")
    if "experiment" in entry:
        check_int(entry["experiment"], join(place, "experiment"), problems, minimum=0)
    if len(problems) > before or dataset is INVALID:
        return INVALID
    axes = {"set": entry["path"], **({"normalized": normalized} if normalized else {}),
            **({"experiment": entry["experiment"]} if "experiment" in entry else {})}
    foreign = by_core(lambda: read_axes(axes, DATASETS.get(dataset.name).info), place, problems)
    if foreign is INVALID:
        return INVALID
    key = shorten_key(KEY_UNSAFE.sub("_", foreign.name))
    config = DistillConfig(dataset=dataset.name, ipc=foreign.ipc, iterations=0)
    soft = {"soft_labels": True} if foreign.soft_labels is not None else {}
    return TrialPoint(key, config, {**axes, "ipc": foreign.ipc, **soft}, FOREIGN_METHOD)


def read_axes(axes: dict, info):
    """The ForeignSet a point's axes name (`set`, and `normalized`/`experiment` when given)."""
    return load_foreign_set(Path(axes["set"]).expanduser(), info, normalized=axes.get("normalized", "auto"),
                            experiment=axes.get("experiment"))
