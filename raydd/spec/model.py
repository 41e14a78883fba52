"""The frozen dataclasses a sweep file becomes, the error listing its problems, and the KD words
(`raydd.kd_words`, re-exported here for the spec's users)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from raydd import strict_json
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import EvalConfig
from raydd.kd_words import kd_mode, kd_word  # noqa: F401  (re-exported: the spec's KD words)
from raydd.spec.checks import Problems, check_storage


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
    # held out of the training data to choose KD settings: a fraction, or a count of images
    val_size: float | int = 0.1


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation setting: a point of the grid's evaluation axes, resolved over `evaluation:`."""

    eval_key: str  # names the point among the settings (`augment_dsa`); "" for the one setting of a grid
    # without evaluation axes, so that its jobs keep the names they had before such axes existed
    config: EvalConfig
    axes: dict[str, object]  # this point's evaluation-axis values, as the file gives them
    # Names the KD teacher of this setting among a set's teachers: the axes that change how the
    # teacher trains (all but SHARED_TEACHER_AXES); "" when every setting shares one teacher.
    teacher_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"eval_key": self.eval_key, "axes": self.axes, "config": self.config.to_dict()}


# Evaluation axes that leave the KD teacher's training unchanged (they act on the students: the KD
# candidates, and the validation images that choose among them), so settings differing only in them
# share a teacher. Every other evaluation axis trains a teacher of its own.
SHARED_TEACHER_AXES = ("alphas", "temperatures", "val_images")


@dataclass(frozen=True)
class EvaluationSpec:
    students: tuple[str, ...]
    teacher: str
    kd_modes: tuple[bool, ...]
    seeds: int  # evaluation seeds 0 .. seeds-1
    config: EvalConfig  # the `evaluation:` section's settings
    grid: tuple[EvalPoint, ...] = ()  # one point per evaluation setting of the grid; () without evaluation axes
    # evaluation seeds of the whole_dataset baseline (a student on the whole split costs hours on a
    # CPU); None: `seeds`
    whole_seeds: int | None = None

    def seeds_of(self, whole: bool) -> int:
        """How many evaluation seeds a set gets: `whole_seeds` for the whole split, else `seeds`."""
        return self.whole_seeds if whole and self.whole_seeds is not None else self.seeds

    @property
    def settings(self) -> tuple[EvalPoint, ...]:
        """Every setting each set is evaluated under: the grid's evaluation points, or `config` alone."""
        return self.grid or (EvalPoint("", self.config, {}),)

    def describe(self) -> dict[str, Any]:
        d = {"students": list(self.students), "teacher": self.teacher, "kd_modes": list(self.kd_modes),
             "seeds": self.seeds, "config": self.config.to_dict()}
        if self.whole_seeds is not None:  # only when given, so that a sweep without it keeps its hash
            d["whole_seeds"] = self.whole_seeds
        # only with evaluation axes, so that a sweep without them keeps its experiment hash
        return {**d, "grid": [p.to_dict() for p in self.grid]} if self.grid else d


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
    # A baseline's name (`random_real`): the set is drawn, not distilled, and `config` only gives
    # its ipc and seed. None for a distillation.
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values (Tune's param_space holds points so: it can show and store them)."""
        d = {"trial_key": self.trial_key, "axes": self.axes, "config": self.config.to_dict()}
        return d if self.baseline is None else {**d, "baseline": self.baseline}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrialPoint":
        return cls(d["trial_key"], DistillConfig.from_dict(d["config"]), dict(d["axes"]), d.get("baseline"))


@dataclass(frozen=True)
class SweepSpec:
    name: str
    storage: str
    dataset: DatasetSpec
    evaluation: EvaluationSpec
    resources: ResourceSpec
    points: tuple[TrialPoint, ...]
    source: dict  # the parsed YAML, stored beside the results as the sweep file (spec.yaml)
    # Sets evaluated beside the distilled ones, one per (baseline, ipc, seed) of the grid.
    baselines: tuple[TrialPoint, ...] = ()
    probe: Any = None  # ProbeSpec (raydd.spec.search): quick students whose val accuracy Tune sees
    search: Any = None  # SearchSpec: sample distill keys around each grid point instead of fixing them
    tracking: Any = None  # TrackingSpec: Tune's logger callbacks
    # The `key.path=value` overrides given with the file, as given; `source` already holds them
    overrides: tuple[str, ...] = ()
    # The MTT points' expert store as the file names it (None: `<storage>/experts`). Not part of
    # the experiment: the store is content-addressed, so where it is never changes a number.
    experts_storage: str | None = None

    @property
    def experts_root(self) -> str:
        """The expert store's directory, absolute (raydd.spec.experts)."""
        from raydd.spec.experts import default_experts_root
        from raydd.storage import absolute

        return absolute(self.experts_storage or default_experts_root(self.storage))

    @property
    def evaluated(self) -> tuple[TrialPoint, ...]:
        """Every set the sweep evaluates: the distilled points, then the baselines."""
        return self.points + self.baselines

    def with_storage(self, storage: str) -> "SweepSpec":
        """The same sweep writing to another storage location (the `--storage` override)."""
        from raydd.spec.experts import check_experts_place

        problems = Problems()
        check_storage(storage, "--storage", problems)
        check_experts_place(self.experts_storage, storage, self.name, self.points, problems)
        if problems:
            raise SpecError(problems.lines({}), "--storage")
        return dataclasses.replace(self, storage=storage)

    def describe(self) -> dict[str, Any]:
        """The resolved description: every setting actually used, as plain JSON values."""
        return {
            "name": self.name,
            "storage": self.storage,
            "dataset": dataclasses.asdict(self.dataset),
            "evaluation": self.evaluation.describe(),
            "resources": dataclasses.asdict(self.resources),
            "points": [p.to_dict() for p in self.points],
            # only when present, so that a sweep without baselines keeps its experiment hash
            **({"baselines": [p.to_dict() for p in self.baselines]} if self.baselines else {}),
            **{k: dataclasses.asdict(getattr(self, k)) for k in ("probe", "search") if getattr(self, k)},
        }

    def experiment(self) -> dict[str, Any]:
        """What decides the rows: everything but where they go and the resources that compute them."""
        return {k: v for k, v in self.describe().items() if k not in ("storage", "resources")}

    def experiment_hash(self) -> str:
        """SHA-256 of `experiment()` as canonical JSON: equal experiments, equal hashes."""
        text = strict_json.dumps(self.experiment(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
