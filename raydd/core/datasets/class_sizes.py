"""How many training images each class of a dataset holds, and the one rule a set's images per
class (ipc) keeps against them.

The rule: ipc is at most the smallest class's training images (after the validation carve). A
distilled set condenses its data, so it holds fewer images of a class than the class has; a
random-real baseline and a real-initialised set draw ipc distinct images of every class. `raydd
distill`, the `Distiller`, `random_real` and sweep validation all ask `ipc_problem`, so one ipc is
refused everywhere or nowhere, with the same words.

`batch_real` needs no such rule: a class smaller than it gives all its images to each matching
step (`raydd.core.distill.sampler`), as the original DC code does.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import torch

from raydd.core.datasets.loading import DATASETS, check_matches
from raydd.core.datasets.splits import holdout_count, stratified_quotas
from raydd.core.datasets.types import DatasetInfo


def sizes_of(labels: torch.Tensor, num_classes: int) -> tuple[int, ...]:
    """Images per class of a split's labels."""
    return tuple(torch.bincount(labels.cpu(), minlength=num_classes).tolist())


@functools.lru_cache(maxsize=8)
def class_sizes(name: str, data_dir: str | None = None, download: bool = False,
                val_size: float | int = 0.1) -> tuple[int, ...]:
    """Training images per class of dataset `name` once `val_size` is carved off, as
    `load_dataset` gives them (the carve's quotas do not depend on its seed). Reads the dataset
    once per process and keeps the counts only; raises what `load_dataset` raises (a
    DatasetNotFoundError for missing files)."""
    source = DATASETS.get(name)
    raw = source.read(None if data_dir is None else Path(data_dir).expanduser(), download)
    check_matches(raw, source.info)
    counts = list(sizes_of(raw.train_labels, source.info.num_classes))
    held = stratified_quotas(counts, holdout_count(val_size, sum(counts)))
    return tuple(n - h for n, h in zip(counts, held))


def ipc_problem(ipc: int, sizes: Sequence[int], info: DatasetInfo) -> str | None:
    """Why `ipc` images per class do not fit classes of `sizes` training images, or None; the
    text starts with the ipc, so that a caller puts its own name for the setting before it."""
    smallest = min(sizes)
    if ipc <= smallest:
        return None
    label = list(sizes).index(smallest)
    return (f"{ipc} is more than the {smallest} training images of {info.name}'s smallest class "
            f"({info.class_names[label]!r}, after the validation split); a set holds fewer images "
            "of a class than the class has")


def check_ipc_fits(ipc: int, sizes: Sequence[int], info: DatasetInfo, setting: str = "ipc") -> None:
    """`ipc_problem` as a ValueError, the setting named as the caller's user knows it (`--ipc`)."""
    problem = ipc_problem(ipc, sizes, info)
    if problem is not None:
        raise ValueError(f"{setting} {problem}")
