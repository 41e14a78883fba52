"""A whole set under a label regime, and the baselines: the calls `raydd evaluate` and the sweep's
actors make on top of the student protocol (`raydd.core.evaluate.protocol`).

- `evaluate_synset`: every (student x kd x seed) record of one set, under `cfg.labels`;
- `regime_inputs`: what a regime's students fit, and who relabels (`raydd.core.evaluate.labels`);
- `train_whole_teacher`: the whole-data teacher that relabels, or gives soft labels;
- `random_real`, `evaluate_random_real`: the random real images a set must beat.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from raydd.core.datasets.class_sizes import check_ipc_fits
from raydd.core.datasets.splits import class_indices
from raydd.core.evaluate.config import EvalConfig, EvalRecord
from raydd.core.evaluate.labels import check_soft_labels, check_training_split, needs_whole_teacher, teacher_probabilities
from raydd.core.evaluate.protocol import (
    RecordHook,
    check_architectures,
    check_images,
    evaluate_seeds,
    train_teachers,
)
from raydd.core.seeding import derive_seed


def train_whole_teacher(data, cfg, device, seed: int = 0):
    """`cfg.teacher` trained on the whole training split by the student protocol at
    `whole_epochs`, with class labels; frozen, in eval mode. One per run (seed 0), as SRe2L and
    RDED evaluate with one pretrained teacher."""
    check_training_split(data, "the whole-data teacher")
    return train_teachers(data.train.images, data.train.labels, data, cfg.for_whole_data(), [seed], device)[0]


def regime_inputs(cfg, images, labels, soft_labels, data, seeds, device, whole_teacher=None, set_teachers=None):
    """(what the students fit, the relabelling teachers per seed or None) for a set under `cfg.labels`.

    `soft` uses the set's own soft labels, or gives a set that stores none the whole-data teacher's
    probabilities on its images; `relabel` hands every seed the whole-data teacher, or the KD teacher
    trained on the set (`set_teachers`, one per seed). Either teacher is trained here when needed and
    not given.
    """
    if needs_whole_teacher(cfg, soft_labels is not None) and whole_teacher is None:
        whole_teacher = train_whole_teacher(data, cfg, device)
    if cfg.labels == "hard":
        return labels, None
    if cfg.labels == "soft":
        if soft_labels is None:
            return teacher_probabilities(whole_teacher, images.to(device)), None
        return check_soft_labels(soft_labels, len(images), data.info.num_classes, "the set").to(device), None
    if cfg.relabel_teacher == "whole":
        return labels, [whole_teacher] * len(seeds)
    return labels, set_teachers or train_teachers(images, labels, data, cfg, seeds, device)


def evaluate_synset(
    images,
    labels,
    data,
    students: Sequence[str],
    cfg: EvalConfig,
    seeds: Sequence[int],
    kd: Sequence[bool] = (False, True),
    device="cpu",
    on_record: RecordHook | None = None,
    *,
    soft_labels: torch.Tensor | None = None,
    whole_teacher: nn.Module | None = None,
) -> list[EvalRecord]:
    """Every (student x kd x seed) record of one set; one teacher per seed, shared by the students,
    and the seeds (and KD candidates) of each (student, kd) trained together (`evaluate_seeds`).

    The students fit what `cfg.labels` says (`labels.regime_inputs`): class `labels`, the set's
    `soft_labels` (or the whole-data teacher's probabilities where it stores none), or a
    relabelling teacher's on every batch; `whole_teacher` is trained when needed and not given.
    Names, shapes and the regime are checked before any training. `on_record` sees each record as
    it lands.
    """
    check_architectures(list(students) + ([cfg.teacher] if any(kd) or cfg.labels != "hard" else []))
    check_images(images, labels, data.info)
    if not students or not seeds or not kd:
        raise ValueError("need at least one student, one seed and one kd setting")
    if cfg.labels == "relabel" and any(kd):
        raise ValueError("labels relabel trains every student on a teacher's labels already: use kd off")
    images, labels = images.to(device), labels.to(device)
    targets, relabelers = regime_inputs(cfg, images, labels, soft_labels, data, seeds, device, whole_teacher)
    teachers = train_teachers(images, targets, data, cfg, seeds, device) if any(kd) else None
    records = []
    for student in students:
        for use_kd in kd:
            for record in evaluate_seeds(images, targets, data, student, cfg, seeds, device,
                                         teachers if use_kd else None, relabelers=relabelers):
                records.append(record)
                if on_record is not None:
                    on_record(record)
    return records


def random_real(data, ipc: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`ipc` random training images of every class (the baseline a synthetic set must beat).

    Drawn from `data.train` only (never val or test), grouped by class, reproducible from `seed`.
    """
    if ipc < 1:
        raise ValueError(f"ipc must be >= 1, got {ipc}")
    generator = torch.Generator().manual_seed(derive_seed(seed, "random_real"))
    chosen = []
    groups = class_indices(data.train.labels.cpu(), data.info.num_classes)
    check_ipc_fits(ipc, [len(members) for members in groups], data.info)  # the one ipc rule
    for members in groups:
        chosen.append(members[torch.randperm(len(members), generator=generator)[:ipc]])
    index = torch.cat(chosen).to(data.train.labels.device)
    return data.train.images[index].clone(), data.train.labels[index].clone()


def evaluate_random_real(
    data,
    ipc: int,
    students: Sequence[str],
    cfg: EvalConfig,
    seeds: Sequence[int],
    kd: Sequence[bool] = (False,),
    device="cpu",
    on_record: RecordHook | None = None,
    *,
    whole_teacher: nn.Module | None = None,
) -> list[EvalRecord]:
    """`evaluate_synset` on `random_real(data, ipc, seed)`: a fresh draw of real images per seed,
    each under `cfg.labels` as a distilled set without soft labels is (one whole-data teacher for
    all, `whole_teacher` or trained here when the regime needs it)."""
    check_architectures(list(students) + ([cfg.teacher] if any(kd) or cfg.labels != "hard" else []))
    whole = whole_teacher
    if whole is None and needs_whole_teacher(cfg, False):
        whole = train_whole_teacher(data, cfg, device)
    records = []
    for seed in seeds:
        images, labels = random_real(data, ipc, seed)
        records += evaluate_synset(images, labels, data, students, cfg, [seed], kd, device, on_record,
                                   whole_teacher=whole)
    return records
