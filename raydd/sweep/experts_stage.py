"""A sweep's expert stage: before its trials start (and on every resume), each expert that one of
its MTT points needs is made sure of in the expert store, trained as a Ray task where the store
lacks it or holds it damaged.

An MTT point needs seeds 0 .. num_experts - 1 of every architecture of its pool, trained with its
expert settings on the sweep's dataset and validation carve (`ExpertIdentity.of`: the identity
the point's distillation loads them by). Points that need the same expert share it: the store is
content-addressed, so the stage asks for the union once. A sweep without MTT points has no stage.
Each task asks Ray for what a trial asks (`resources.trial`): an expert's training is a trial's
kind of work, and the trials wait for the stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from raydd.core.datasets import DATASETS
from raydd.core.datasets.splits import holdout_count
from raydd.core.experts import ExpertError, ExpertIdentity, ExpertOutcome, ExpertSettings, ExpertStore
from raydd.core.experts.catalog import requested, settings_words
from raydd.spec import DatasetSpec, SweepSpec
from raydd.spec.experts import needs_experts
from raydd.sweep import costs

SWEEP_SPLIT_SEED = 0  # the carve every trial loads (SweepContext.load_data: load_dataset's default)


@dataclass(frozen=True)
class DataCarve:
    """What an expert's identity reads of the data: the dataset's description and its validation
    carve, without reading a pixel (`ExpertIdentity.of` takes it as it takes a `Dataset`)."""

    info: Any
    val_size: float | int
    split_seed: int = SWEEP_SPLIT_SEED


def sweep_carve(dataset: DatasetSpec) -> DataCarve:
    return DataCarve(DATASETS.get(dataset.name).info, dataset.val_size)


Need = tuple[Sequence[str], ExpertSettings, int]  # pool architectures, expert settings, experts per architecture


def union_of_needs(carve: DataCarve, needs: Iterable[Need]) -> list[ExpertIdentity]:
    """Every expert of the (architectures, settings, count) needs, each once, in the order first needed."""
    return list(dict.fromkeys(identity for archs, settings, count in needs
                              for identity in requested(carve, archs, settings, count)))


def mtt_needs(points: Sequence) -> list[Need]:
    """What each MTT point needs."""
    return [(p.config.pool.archs, p.config.settings.expert_settings(), p.config.settings.num_experts)
            for p in points if needs_experts(p.config.method)]


def needed_experts(spec: SweepSpec) -> list[ExpertIdentity]:
    return union_of_needs(sweep_carve(spec.dataset), mtt_needs(spec.points))


def mtt_point_count(spec: SweepSpec) -> int:
    return sum(needs_experts(p.config.method) for p in spec.points)


# ---- what the dry run shows ----------------------------------------------------------------------
@dataclass(frozen=True)
class ExpertPlan:
    root: str
    points: int  # MTT points that need experts
    needed: int
    stored: int  # complete in the store already
    refused: str | None = None  # why the stage would refuse the store, if it would
    train_seconds: float = 0.0  # core-seconds of training those to train whose cost was measured
    unmeasured: int = 0  # experts to train whose cost was not measured (raydd.sweep.costs)

    @property
    def to_train(self) -> int:
        return self.needed - self.stored

    def line(self) -> str:
        text = (f"experts: {self.needed} for {self.points} MTT point(s), {self.stored} stored already, "
                f"{self.to_train} to train first (each as a trial's resources) in {self.root}")
        return text + (f"\nwarning: the expert stage would refuse the store: {self.refused}" if self.refused else "")


def plan_experts(spec: SweepSpec) -> ExpertPlan | None:
    """The expert stage as a dry run sees it: reads the store, trains and writes nothing. None
    without MTT points."""
    identities = needed_experts(spec)
    if not identities:
        return None
    store = ExpertStore(spec.experts_root)
    to_train, refused = [], None
    for identity in identities:
        try:
            if store.problem(identity) is not None:
                to_train.append(identity)
        except ExpertError as err:
            refused = refused or str(err)
            to_train.append(identity)
    seconds = [_expert_cost(spec, identity) for identity in to_train]
    return ExpertPlan(str(store.root), mtt_point_count(spec), len(identities), len(identities) - len(to_train),
                      refused, sum(s for s in seconds if s is not None), sum(s is None for s in seconds))


def _expert_cost(spec: SweepSpec, identity: ExpertIdentity) -> float | None:
    """Core-seconds of training one expert on the training split left after the validation carve."""
    total = costs.TRAIN_IMAGES.get(identity.dataset, costs.WHOLE_IMAGES)
    images = total - holdout_count(spec.dataset.val_size, total)
    return costs.expert_seconds(identity.arch, identity.settings, images, identity.image_size)


# ---- the stage -----------------------------------------------------------------------------------
def run_expert_stage(spec: SweepSpec, echo: Callable[[str], None]) -> list[ExpertOutcome]:
    """Make sure of every expert the MTT points need (`ensure_experts`), each task with a trial's
    resources; nothing at all without MTT points."""
    identities = needed_experts(spec)
    if not identities:
        return []
    r = spec.resources
    data_dir = Path(spec.dataset.data_dir).expanduser() if spec.dataset.data_dir else None
    echo(f"[experts] {len(identities)} expert(s) for {mtt_point_count(spec)} MTT point(s)")
    return ensure_experts(spec.experts_root, identities, data_dir, echo, cpus=r.trial_cpu, gpus=r.trial_gpu)


def ensure_experts(root: str | Path, identities: Sequence[ExpertIdentity], data_dir: Path | None,
                   echo: Callable[[str], None], *, cpus: float, gpus: float) -> list[ExpertOutcome]:
    """Every expert in the store at `root`, on the Ray this process is attached to: complete ones
    kept, missing and damaged ones trained as tasks (one line each), then a summary line. A
    directory of the store that is not raydd's fails, in one line, before any training."""
    from raydd.sweep.expert_tasks import ensure_on_ray

    store = ExpertStore(root)
    # each looked at once (a checksum of its file), all before any training: a foreign one raises here
    problems = {identity: store.problem(identity) for identity in identities}
    missing = [identity for identity, problem in problems.items() if problem is not None]
    echo(f"[experts] in {store.root}: {len(identities) - len(missing)} complete, {len(missing)} to train")

    def report(outcome: ExpertOutcome) -> None:
        echo(f"[experts] {outcome.identity.label} ({settings_words(outcome.identity.settings)}): {outcome.words}")

    outcomes = [ExpertOutcome(identity, store.directory(identity), "reused")
                for identity, problem in problems.items() if problem is None]
    for outcome in outcomes:
        report(outcome)
    outcomes += ensure_on_ray(store.root, missing, data_dir, report, cpus=cpus, gpus=gpus)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("trained", "retrained", "reused")}
    echo("[experts] " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return outcomes
