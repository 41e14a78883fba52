"""The frozen dataclasses a sweep file becomes, and the error listing its problems."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

from raydd import strict_json
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import EvalConfig
from raydd.spec.problems import _Problems
from raydd.spec.top_level import _check_storage



class SpecError(ValueError):
    """A sweep file with problems; `.problems` holds every one as `place: message`."""

    def __init__(self, problems: Iterable[str], source: str = "<sweep>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        header = f"{source}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    data_dir: str | None = None
    download: bool = False
    val_size: float = 0.1  # fraction of the training data held out to choose KD settings


@dataclass(frozen=True)
class EvaluationSpec:
    students: tuple[str, ...]
    teacher: str
    kd_modes: tuple[bool, ...]
    seeds: int  # evaluation seeds 0 .. seeds-1
    config: EvalConfig


@dataclass(frozen=True)
class ResourceSpec:
    trial_cpu: float = 1.0
    trial_gpu: float = 0.0
    evaluators: int = 1
    evaluator_cpu: float = 1.0
    evaluator_gpu: float = 0.0
    max_concurrent_trials: int | None = None
    max_failures: int = 2  # retries of a trial from its last checkpoint (Tune FailureConfig)
    checkpoint_every: int = 25  # distillation iterations between Tune checkpoints


@dataclass(frozen=True)
class TrialPoint:
    trial_key: str  # stable, readable, unique, filesystem-safe id of the grid point
    config: DistillConfig  # fully resolved
    axes: dict[str, object]  # this point's grid values (a pool as its PoolSpec.name)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    storage: str
    dataset: DatasetSpec
    evaluation: EvaluationSpec
    resources: ResourceSpec
    points: tuple[TrialPoint, ...]
    source: dict  # the raw parsed YAML, travelling with the results

    def with_storage(self, storage: str) -> "SweepSpec":
        """The same sweep writing to another storage location (the `--storage` override)."""
        problems = _Problems()
        _check_storage(storage, "--storage", problems)
        if problems:
            raise SpecError(problems.lines({}), "--storage")
        return dataclasses.replace(self, storage=storage)

    def describe(self) -> dict[str, Any]:
        """The resolved description: every setting actually used, as plain JSON values."""
        ev = self.evaluation
        return {
            "name": self.name,
            "storage": self.storage,
            "dataset": dataclasses.asdict(self.dataset),
            "evaluation": {"students": list(ev.students), "teacher": ev.teacher,
                           "kd_modes": list(ev.kd_modes), "seeds": ev.seeds, "config": ev.config.to_dict()},
            "resources": dataclasses.asdict(self.resources),
            "points": [{"trial_key": p.trial_key, "axes": p.axes, "config": p.config.to_dict()}
                       for p in self.points],
        }

    def to_json(self) -> str:
        """`describe()` as compact, strict JSON with sorted keys: equal specs give equal text."""
        return strict_json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))
