"""Teachers, students, seeds and baselines: the evaluation protocol built on `train_net`.

Seeding: a student's initial weights come from `(seed, "init", student)` and its shuffles and
augmentation draws from `(seed, "data", student)`. KD on and off, and every KD candidate, thus
start from the same weights and see the same batches; only the loss differs.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
import torch.nn as nn

from raydd.core.datasets.splits import class_indices
from raydd.core.evaluate.config import EvalConfig, EvalRecord, RecordSummary
from raydd.core.evaluate.train import accuracy, build_seeded, freeze, make_generator, train_net
from raydd.core.seeding import derive_seed

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
    if labels.min() < 0 or labels.max() >= info.num_classes:
        raise ValueError(f"labels must lie in [0, {info.num_classes}) for {info.name}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("the images hold NaN or infinite values; a set like that cannot be evaluated")


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
    net = build_seeded(student, data.info, derive_seed(seed, role, "init", student)).to(device)
    generator = make_generator(derive_seed(seed, role, "data", student))
    kd = {} if teacher is None else dict(teacher=teacher, alpha=alpha, temperature=temperature)
    seconds = train_net(net, images.to(device), labels.to(device), cfg, generator, **kd)
    return net, seconds


def train_teacher(images, labels, data, cfg: EvalConfig, seed: int, device) -> nn.Module:
    """Train `cfg.teacher` on the set by the student protocol; returned frozen, in eval mode.

    Train it once per (set, seed) and pass it to every `evaluate_student` of that seed.
    """
    check_architectures([cfg.teacher])
    images, labels = images.to(device), labels.to(device)
    teacher, _ = train_student(images, labels, data, cfg.teacher, cfg, seed, device, role="teacher")
    return freeze(teacher)


def _split_accuracy(net: nn.Module, split, cfg: EvalConfig, device) -> float:
    return accuracy(net, split.images, split.labels, cfg.eval_batch_size, device)


def evaluate_student(
    images, labels, data, student: str, cfg: EvalConfig, seed: int, device, teacher: nn.Module | None = None
) -> EvalRecord:
    """Train `student` on the set with `seed`; accuracy on the validation and test splits.

    With a `teacher` (built from `cfg.teacher`, see `train_teacher`) the student is trained once
    per (alpha, T) candidate, the candidate with the best validation accuracy is kept (ties: the
    first listed), and only that one is measured on the test split.
    """
    images, labels = images.to(device), labels.to(device)
    if teacher is None:
        net, seconds = train_student(images, labels, data, student, cfg, seed, device)
        val = _split_accuracy(net, data.val, cfg, device)
        test = _split_accuracy(net, data.test, cfg, device)
        return EvalRecord(student, None, False, None, None, seed, val, test, seconds)
    candidates = cfg.candidates()
    if len(candidates) > 1 and len(data.val) == 0:
        raise ValueError("choosing the KD alpha/temperature needs a validation split; val is empty")
    best, total_seconds = None, 0.0
    for alpha, temperature in candidates:
        net, seconds = train_student(images, labels, data, student, cfg, seed, device, teacher, alpha, temperature)
        total_seconds += seconds
        val = _split_accuracy(net, data.val, cfg, device)
        if best is None or val > best[0]:
            best = (val, alpha, temperature, net)
    val, alpha, temperature, net = best
    test = _split_accuracy(net, data.test, cfg, device)
    return EvalRecord(student, cfg.teacher, True, alpha, temperature, seed, val, test, total_seconds)


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
) -> list[EvalRecord]:
    """Every (seed x student x kd) record of one set; one teacher per seed, shared by the students.

    Names and shapes are checked before any training. `on_record` sees each record as it lands.
    """
    check_architectures(list(students) + ([cfg.teacher] if any(kd) else []))
    check_images(images, labels, data.info)
    if not students or not seeds or not kd:
        raise ValueError("need at least one student, one seed and one kd setting")
    images, labels = images.to(device), labels.to(device)
    records = []
    for seed in seeds:
        teacher = train_teacher(images, labels, data, cfg, seed, device) if any(kd) else None
        for student in students:
            for use_kd in kd:
                record = evaluate_student(
                    images, labels, data, student, cfg, seed, device, teacher if use_kd else None
                )
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
    for c, members in enumerate(class_indices(data.train.labels.cpu(), data.info.num_classes)):
        if len(members) < ipc:
            raise ValueError(f"class {c} has {len(members)} training images, fewer than ipc={ipc}")
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
) -> list[EvalRecord]:
    """`evaluate_synset` on `random_real(data, ipc, seed)`: a fresh draw of real images per seed."""
    check_architectures(list(students) + ([cfg.teacher] if any(kd) else []))
    records = []
    for seed in seeds:
        images, labels = random_real(data, ipc, seed)
        records += evaluate_synset(images, labels, data, students, cfg, [seed], kd, device, on_record)
    return records


def _mean_std(values: list[float]) -> tuple[float, float]:
    # Population std (ddof 0), as the DC/DSA/DM papers report their "mean ± std".
    t = torch.tensor(values, dtype=torch.float64)
    return t.mean().item(), t.std(unbiased=False).item()


def summarise_records(records: Iterable[EvalRecord]) -> list[RecordSummary]:
    """Mean ± std over seeds of the accuracies, per (student, kd), in first-seen order."""
    groups: dict[tuple[str, bool], list[EvalRecord]] = {}
    for r in records:
        groups.setdefault((r.student, r.kd), []).append(r)
    summaries = []
    for (student, kd), group in groups.items():
        test_mean, test_std = _mean_std([r.test_acc for r in group])
        val_mean, val_std = _mean_std([r.val_acc for r in group])
        summaries.append(RecordSummary(student, kd, len(group), test_mean, test_std, val_mean, val_std))
    return summaries
