"""Teachers, students and seeds: the evaluation protocol built on `train_net` (a whole set under a
label regime, and the baselines, are `raydd.core.evaluate.sets`).

Seeding: a student's initial weights come from `(seed, "init", student)` and its shuffles and
augmentation draws from `(seed, "data", student)`. KD on and off, and every KD candidate, thus
start from the same weights and see the same batches; only the loss differs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Callable, Iterable, Sequence

import torch
import torch.nn as nn

from raydd.core.datasets.labels import check_labels
from raydd.core.evaluate.config import TEST_MAX_EVERY, EvalConfig, EvalRecord, RecordSummary
from raydd.core.evaluate.speed import inference_batch_size, inference_channels_last, stack_pays
from raydd.core.evaluate.stack import Members, NetStack, OneNet
from raydd.core.evaluate.train import (
    Member,
    build_seeded,
    freeze,
    make_generator,
    member_accuracies,
    train_members,
)
from raydd.core.seeding import derive_seed
from raydd.stats import mean_std

TEST_MAX = "test-max"

RecordHook = Callable[[EvalRecord], None]


def check_architectures(names: Iterable[str]) -> None:
    """ValueError naming every unknown architecture and the known ones, before any training."""
    from raydd.core.archs import ARCHS

    unknown = [n for n in names if n not in ARCHS]
    if unknown:
        raise ValueError(f"unknown architecture(s) {', '.join(unknown)}; known: {', '.join(ARCHS)}")


def check_images(images: torch.Tensor, labels: torch.Tensor, info) -> None:
    """ValueError when a set does not fit the dataset it is evaluated on."""
    expected = (info.channels, info.image_size, info.image_size)
    if images.dim() != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(f"images have shape {tuple(images.shape)}; {info.name} needs [N, {', '.join(map(str, expected))}]")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{images.shape[0]} images but labels of shape {tuple(labels.shape)}")
    if len(labels) == 0:
        raise ValueError("the set to evaluate is empty")
    check_labels(labels, info.num_classes, f"the set's labels, for {info.name}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("the images hold NaN or infinite values; a set like that cannot be evaluated")


@dataclass
class Trained:
    """The members of one training group, trained: one stack, or one net per member."""

    models: list[Members]
    seconds: list[float]  # training seconds per member (a stack's time is shared out evenly)

    def accuracies(self, split, batch_size: int, device, channels_last: bool = False) -> list[float]:
        images, labels = split.images.to(device), split.labels.to(device)
        return [acc for model in self.models
                for acc in member_accuracies(model, images, labels, batch_size, channels_last)]

    def select(self, members: Sequence[int]) -> "Trained":
        """Only the given members (to measure the chosen KD candidates on the test split)."""
        if len(self.models) == 1 and isinstance(self.models[0], NetStack):
            return Trained([self.models[0].select(members)], [self.seconds[m] for m in members])
        return Trained([self.models[m] for m in members], [self.seconds[m] for m in members])


def train_group(
    images,
    labels,
    data,
    arch: str,
    cfg: EvalConfig,
    seeds: Sequence[int],
    device,
    *,
    teachers: Sequence[nn.Module] | None = None,
    candidates: Sequence[tuple[float, float]] = ((0.0, 1.0),),
    role: str = "student",
    stacked: bool | None = None,
    after_epoch: Callable[[int, Members, int], None] | None = None,
) -> Trained:
    """Train `arch` once per seed and (alpha, T) candidate; member order: seed-major.

    Member (seed, candidate) starts from the weights `(seed, role, "init", arch)` and reads the
    batches and draws of `(seed, role, "data", arch)`, with KD from `teachers[i]` (one per seed)
    when given. `stacked`: train all members as one `NetStack` (True), one after another (False),
    or as `speed.stack_pays` rules for the architecture and device (None). `after_epoch(epoch,
    model, first)` sees every model after every epoch, `first` its first member's position.
    """
    images, labels = images.to(device), labels.to(device)
    if teachers is not None and len(teachers) != len(seeds):
        raise ValueError(f"{len(teachers)} teachers for {len(seeds)} seeds: one teacher per seed")
    candidates = list(candidates) if teachers is not None else [(0.0, 1.0)]
    members = [Member(i, None if teachers is None else teachers[i], a, t)
               for i in range(len(seeds)) for a, t in candidates]
    nets = [build_seeded(arch, data.info, derive_seed(seed, role, "init", arch)).to(device) for seed in seeds]

    def generator(i: int) -> torch.Generator:
        return make_generator(derive_seed(seeds[i], role, "data", arch))

    if stacked is None:
        stacked = stack_pays(arch, torch.device(device).type, len(members), min(cfg.batch_size, len(images)))
    def watcher(first: int):
        return None if after_epoch is None else (lambda epoch, model: after_epoch(epoch, model, first))

    if stacked:
        model = NetStack([nets[m.stream] for m in members])
        seconds = train_members(model, images, labels, cfg, [generator(i) for i in range(len(seeds))], members,
                                after_epoch=watcher(0))
        return Trained([model], [seconds / len(members)] * len(members))
    models, seconds = [], []
    for position, m in enumerate(members):
        model = OneNet(copy.deepcopy(nets[m.stream]))
        seconds.append(train_members(model, images, labels, cfg, [generator(m.stream)], [replace(m, stream=0)],
                                     after_epoch=watcher(position)))
        models.append(model)
    return Trained(models, seconds)


def train_student(
    images,
    labels,
    data,
    student: str,
    cfg: EvalConfig,
    seed: int,
    device,
    teacher: nn.Module | None = None,
    alpha: float = 0.0,
    temperature: float = 1.0,
    role: str = "student",
) -> tuple[nn.Module, float]:
    """A fresh `student` (weights and batches seeded by `(seed, role, student)`) trained on the
    set, with KD from `teacher` at (alpha, temperature) when given; returns (net, seconds)."""
    teachers = None if teacher is None else [teacher]
    trained = train_group(images, labels, data, student, cfg, [seed], device, teachers=teachers,
                          candidates=[(alpha, temperature)], role=role, stacked=False)
    return trained.models[0].net, trained.seconds[0]


def train_teachers(images, labels, data, cfg: EvalConfig, seeds: Sequence[int], device,
                   stacked: bool | None = None) -> list[nn.Module]:
    """Train `cfg.teacher` on the set by the student protocol, once per seed (stacked where that
    pays); returned frozen, in eval mode. Pass teacher i to the KD students of seed i."""
    check_architectures([cfg.teacher])
    trained = train_group(images, labels, data, cfg.teacher, cfg, seeds, device, role="teacher", stacked=stacked)
    if len(trained.models) == 1 and isinstance(trained.models[0], NetStack):
        nets = [trained.models[0].net(i).to(device) for i in range(len(seeds))]
    else:
        nets = [model.net for model in trained.models]
    return [freeze(net) for net in nets]


def train_teacher(images, labels, data, cfg: EvalConfig, seed: int, device) -> nn.Module:
    """Train `cfg.teacher` on the set for one seed; frozen, in eval mode (see `train_teachers`)."""
    return train_teachers(images, labels, data, cfg, [seed], device)[0]


def validation_subset(split, images: int | None):
    """The validation images KD chooses on: the whole `split`, or `images` of them drawn with a
    fixed seed (the same subset for every candidate, seed, student and set), in split order."""
    if images is None or images >= len(split):
        return split
    generator = torch.Generator().manual_seed(derive_seed(0, "validation subset"))
    index = torch.randperm(len(split), generator=generator)[:images].sort().values.to(split.labels.device)
    return type(split)(split.images[index], split.labels[index])


def _best(values: Sequence[float]) -> int:
    """Index of the highest value (the first on a tie; NaN never wins unless all are NaN)."""
    finite = [(v, -i) for i, v in enumerate(values) if not math.isnan(v)]
    return -max(finite)[1] if finite else 0


def evaluate_seeds(
    images,
    labels,
    data,
    student: str,
    cfg: EvalConfig,
    seeds: Sequence[int],
    device,
    teachers: Sequence[nn.Module] | None = None,
    stacked: bool | None = None,
    *,
    relabelers: Sequence[nn.Module] | None = None,
) -> list[EvalRecord]:
    """Train `student` on the set once per seed; one record per seed, in order, with accuracy on
    the validation and test splits.

    `labels` are what the students fit: class indices, or soft labels [N, classes] under
    `labels: soft` (`raydd.core.evaluate.labels`). With `teachers` (KD; one per seed, built from
    `cfg.teacher`, see `train_teachers`) each seed's student is trained once per (alpha, T)
    candidate, the candidate with the best validation accuracy is kept (ties: the first listed),
    and only that one is measured on the test split. With `relabelers` (`labels: relabel`; one per
    seed) every batch is labelled by the seed's relabeller, and there is no KD candidate. Under
    `selection: test-max` the test split is measured every `TEST_MAX_EVERY` epochs and at the end,
    and each record holds the best of those (the KD candidate chosen by it too): the comparability
    mode, never a result. Every training of the call is one group (`train_group`): stacked where
    that pays.
    """
    if teachers is not None and relabelers is not None:
        raise ValueError("labels relabel trains on a teacher's labels already; it takes no KD teacher (kd off)")
    images, labels = images.to(device), labels.to(device)
    kd = teachers is not None
    candidates = cfg.candidates() if kd else [(1.0, 1.0)] if relabelers is not None else [(None, None)]
    if len(candidates) > 1 and len(data.val) == 0:
        raise ValueError("choosing the KD alpha/temperature needs a validation split; val is empty")
    device_type = torch.device(device).type
    batch_size = cfg.eval_batch_size or inference_batch_size(student, device_type)
    best_test = TestMax(data.test, cfg, batch_size, device) if cfg.selection == TEST_MAX else None
    trained = train_group(images, labels, data, student, cfg, seeds, device,
                          teachers=teachers if kd else relabelers, candidates=candidates, stacked=stacked,
                          after_epoch=None if best_test is None else best_test.watch)
    channels_last = inference_channels_last(student, device_type)
    val = trained.accuracies(validation_subset(data.val, cfg.val_images), batch_size, device, channels_last)
    k = len(candidates)
    chooser = val if best_test is None else [best_test.best[m] for m in range(len(val))]
    chosen = [i * k + _best(chooser[i * k : (i + 1) * k]) for i in range(len(seeds))]
    final = trained.select(chosen)
    if best_test is None:
        test = final.accuracies(data.test, batch_size, device, channels_last)
    else:
        test = [best_test.best[m] for m in chosen]
    fit = final.accuracies(_as_split(images, labels), batch_size, device, channels_last)
    records = []
    for i, (seed, m) in enumerate(zip(seeds, chosen)):
        alpha, temperature = candidates[m - i * k] if kd else (None, None)
        seconds = sum(trained.seconds[i * k : (i + 1) * k])
        records.append(EvalRecord(student, cfg.teacher if kd else None, kd, alpha, temperature, seed,
                                  val[m], test[i], seconds, fit[i]))
    return records


def _as_split(images, labels) -> SimpleNamespace:
    """The set as a split to measure accuracy on: soft labels [N, classes] by their classes."""
    return SimpleNamespace(images=images, labels=labels if labels.ndim == 1 else labels.argmax(dim=1))


class TestMax:
    """`selection: test-max`: each member's best test accuracy over epochs, measured every
    `TEST_MAX_EVERY` epochs and after the last (as DD-Ranking measures; DC and MTT measure once)."""

    def __init__(self, split, cfg: EvalConfig, batch_size: int, device) -> None:
        self.images, self.labels = split.images.to(device), split.labels.to(device)
        self.every, self.epochs, self.batch_size = TEST_MAX_EVERY, cfg.resolved_epochs, batch_size
        self.best: dict[int, float] = {}

    def watch(self, epoch: int, model: Members, first: int) -> None:
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        for j, acc in enumerate(member_accuracies(model, self.images, self.labels, self.batch_size)):
            self.best[first + j] = max(self.best.get(first + j, float("-inf")), acc)


def evaluate_student(
    images, labels, data, student: str, cfg: EvalConfig, seed: int, device, teacher: nn.Module | None = None
) -> EvalRecord:
    """`evaluate_seeds` for one seed (with its `teacher` for KD)."""
    teachers = None if teacher is None else [teacher]
    return evaluate_seeds(images, labels, data, student, cfg, [seed], device, teachers)[0]


def summarise_records(records: Iterable[EvalRecord]) -> list[RecordSummary]:
    """Mean ± std over seeds (`raydd.stats.mean_std`) of the accuracies, per (student, kd), in
    first-seen order."""
    groups: dict[tuple[str, bool], list[EvalRecord]] = {}
    for r in records:
        groups.setdefault((r.student, r.kd), []).append(r)
    summaries = []
    for (student, kd), group in groups.items():
        test = mean_std(r.test_acc for r in group)
        val = mean_std(r.val_acc for r in group)
        summaries.append(RecordSummary(student, kd, test.n, test.mean, test.std, val.mean, val.std))
    return summaries
