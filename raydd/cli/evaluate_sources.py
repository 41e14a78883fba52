"""What `raydd evaluate` evaluates: a raydd set, a set made by another code, random real images, the
whole training split; each a `Source` that knows how to run and how its rows describe it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click

WHOLE_DATASET = "whole_dataset"


@dataclass(frozen=True)
class Source:
    """One row group of the table: what is evaluated, and how to run it."""

    label: str
    key: str  # its name in result rows (`trial_key`): the set's directory or file name, or the baseline's
    ipc: int | None  # None: the whole training split
    run: Callable  # (data, students, cfg, seeds, kd, device, on_record, whole_teacher) -> records
    artifact: str | None = None  # the synthetic set's directory (or file), if any
    foreign: dict | None = None  # a set made by another code: its format and provenance
    has_soft_labels: bool = False
    extra: dict = field(default_factory=dict)  # what its rows' recipe adds (an exported set's learned lr)
    learned_lr: float | None = None  # the set's own learned lr, when its students train at it (MTT's protocol)
    whitened: bool = False  # its images are ZCA-whitened: its students see whitened real data

    def config(self, cfg):
        """The evaluation setting it is trained under: the whole split's own (`whole_epochs`, hard
        labels), or the protocol at the set's learned lr."""
        from raydd.core.evaluate.carried import with_carried_lr

        return cfg.for_whole_data() if self.key == WHOLE_DATASET else with_carried_lr(cfg, self.learned_lr)

    def images(self, data) -> int:
        """How many images its students train on (for the label storage of its rows)."""
        return len(data.train) if self.ipc is None else self.ipc * data.info.num_classes


def synset_source(directory: Path, learned_lr: bool = True) -> tuple[Source, object]:
    """A raydd set; with `learned_lr`, one that carries a learned lr (MTT) is evaluated at it. A
    ZCA set's students see real data whitened as the set was (`raydd.core.evaluate.carried`)."""
    from raydd.core.artifact import ArtifactError, load_synset
    from raydd.core.evaluate import evaluate_synset
    from raydd.core.evaluate.carried import carried_data, carried_lr, is_whitened

    try:
        synset = load_synset(directory)
        lr = carried_lr(synset.meta) if learned_lr else None
    except ValueError as exc:  # ArtifactError, or a learned lr that cannot train
        raise click.ClickException(f"cannot evaluate {directory}: {exc}") from None
    label = f"{synset.meta['method']} ipc{synset.ipc}"

    def run(data, students, cfg, seeds, kd, device, on_record, whole_teacher):
        return evaluate_synset(synset.images, synset.labels, carried_data(synset.meta, data), students, cfg, seeds,
                               kd, device, on_record, soft_labels=synset.soft_labels, whole_teacher=whole_teacher)

    return Source(label, Path(directory).resolve().name, synset.ipc, run, str(directory),
                  has_soft_labels=synset.soft_labels is not None, learned_lr=lr,
                  whitened=is_whitened(synset.meta)), synset


def is_raydd_set(path: Path) -> bool:
    """A directory holding any of a raydd artifact's files is read (and checked) as one."""
    from raydd.core.artifact import ARTIFACT_FILES

    return path.is_dir() and any((path / name).exists() for name in ARTIFACT_FILES)


def foreign_source(path: Path, dataset: str | None, normalized: str | None, experiment: int | None,
                   learned_lr: bool = True) -> Source:
    """A set made by another code, read and checked against `dataset` before anything loads; with
    `learned_lr`, one that carries a learned lr (MTT's lr_best.pt) is evaluated at it."""
    from raydd.core.datasets import DATASETS
    from raydd.core.evaluate import evaluate_synset
    from raydd.core.foreign import load_foreign_set, require_exists

    require_exists(path)
    if dataset is None:
        raise click.UsageError(f"{path} is not a raydd set: name the dataset it was made for with --dataset")
    try:
        info = DATASETS.get(dataset).info
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from raydd.core.evaluate.carried import carried_lr

    foreign = load_foreign_set(path, info, normalized=normalized or "auto", experiment=experiment)
    click.echo(f"{foreign.name}: {foreign.summary()}", err=True)
    lr = carried_lr({"learned_lr": foreign.learned_lr}) if learned_lr else None

    def run(data, students, cfg, seeds, kd, device, on_record, whole_teacher):
        return evaluate_synset(foreign.images, foreign.labels, data, students, cfg, seeds, kd, device, on_record,
                               soft_labels=foreign.soft_labels, whole_teacher=whole_teacher)

    return Source(f"{foreign.name} ipc{foreign.ipc}", foreign.name, foreign.ipc, run, foreign.path,
                  foreign.describe(), foreign.soft_labels is not None, learned_lr=lr)


def random_real_source(ipc: int) -> Source:
    from raydd.core.evaluate import evaluate_random_real

    def run(data, students, cfg, seeds, kd, device, on_record, whole_teacher):
        return evaluate_random_real(data, ipc, students, cfg, seeds, kd, device, on_record, whole_teacher=whole_teacher)

    return Source(f"random real ipc{ipc}", "random_real", ipc, run)


def whole_dataset_source() -> Source:
    from raydd.core.evaluate import evaluate_synset
    from raydd.core.evaluate.labels import check_training_split

    def run(data, students, cfg, seeds, kd, device, on_record, whole_teacher):
        check_training_split(data, "--whole-dataset")
        return evaluate_synset(data.train.images, data.train.labels, data, students, cfg, seeds, kd, device,
                               on_record)

    return Source("whole dataset", WHOLE_DATASET, None, run)
