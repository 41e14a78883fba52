"""Seeded, stratified hold-out splits (the validation split, and the embedded set's test split)."""

from __future__ import annotations

import math
import numbers

import torch

from raydd.core.datasets.labels import check_labels


def check_val_size(val_size: float | int) -> None:
    """Reject a malformed `val_size` before any data is read.

    A float is a fraction of the training data in [0, 1); an int is a count (0 means no validation
    split). Whether a count fits is checked once the data's size is known (`holdout_count`).
    """
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise ValueError(f"val_size must be a fraction in [0, 1) or an int count, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        if val_size < 0:
            raise ValueError(f"val_size count must be >= 0, got {val_size}")
        return
    if not (math.isfinite(val_size) and 0.0 <= val_size < 1.0):
        raise ValueError(
            f"val_size fraction must be in [0, 1), got {val_size!r}; pass an int for a count of images"
        )


def holdout_count(val_size: float | int, total: int) -> int:
    """How many of `total` training examples go to validation; the rest must stay non-empty."""
    check_val_size(val_size)
    if total == 0:
        raise ValueError("the dataset has no training split (0 training images): nothing to carve a validation "
                         "split from, to distil from or to train a whole_dataset baseline on")
    count = int(val_size) if isinstance(val_size, numbers.Integral) else round(float(val_size) * total)
    if count >= total:
        raise ValueError(f"val_size {val_size!r} leaves no training data (only {total} examples)")
    return count


def class_indices(labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, ...]:
    """Indices of each class's examples, in dataset order: element c holds the positions of class c."""
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    check_labels(labels, num_classes)
    # A stable sort groups the classes while keeping each group in dataset order.
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    return tuple(order.split(counts))


def stratified_quotas(class_counts: list[int], count: int) -> list[int]:
    """Split `count` over classes in proportion to their sizes (largest remainder, ties to lower class)."""
    total = sum(class_counts)
    exact = [count * n for n in class_counts]  # quota * total, kept in integers to avoid rounding drift
    quotas = [e // total for e in exact]
    by_remainder = sorted(range(len(class_counts)), key=lambda c: (-(exact[c] % total), c))
    for c in by_remainder[: count - sum(quotas)]:
        quotas[c] += 1
    return quotas


def stratified_holdout(
    labels: torch.Tensor, count: int, num_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded stratified split of positions 0..N-1 into (kept, held_out), each sorted ascending.

    Each class gives up a share of `count` proportional to its size, drawn by a permutation from a
    generator seeded with `seed`, so the same (labels, count, seed) always give the same split.
    """
    labels = labels.cpu()
    if not 0 <= count < len(labels):
        raise ValueError(f"cannot hold out {count} of {len(labels)} examples")
    generator = torch.Generator().manual_seed(seed)
    groups = class_indices(labels, num_classes)
    held_out = []
    for members, quota in zip(groups, stratified_quotas([len(g) for g in groups], count)):
        held_out.append(members[torch.randperm(len(members), generator=generator)[:quota]])
    held = torch.cat(held_out).sort().values
    is_kept = torch.ones(len(labels), dtype=torch.bool)
    is_kept[held] = False
    return torch.nonzero(is_kept).flatten(), held
