"""The dataset registry and `load_dataset`: read, normalise, carve validation, place on a device."""

from __future__ import annotations

import numbers
from pathlib import Path

import torch

from raydd.core.datasets.digits import DIGITS
from raydd.core.datasets.labels import check_labels
from raydd.core.datasets.sources import DatasetSource, RawSplits
from raydd.core.datasets.splits import check_val_size, holdout_count, stratified_holdout
from raydd.core.datasets.torchvision_sources import CIFAR10, CIFAR100, FASHION_MNIST, MNIST, SVHN
from raydd.core.datasets.types import Dataset, DatasetInfo, Split, normalize_
from raydd.registry import Registry

# Registration order is the order `raydd list datasets` shows: the embedded default first.
DATASETS: Registry[DatasetSource] = Registry("dataset")
for _source in (DIGITS, MNIST, FASHION_MNIST, SVHN, CIFAR10, CIFAR100):
    DATASETS.add(_source.info.name, _source)


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    val_size: float | int = 0.1,
    split_seed: int = 0,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Load `name` as normalised tensors on `device`, with a validation split carved from training.

    `val_size` is a fraction in [0, 1) or a count of training images; the carve is stratified by
    class and seeded by `split_seed`. `data_dir`/`download` matter only for the torchvision datasets
    (`digits` ships with scikit-learn; `fashion_mnist` also falls back to the system copy).
    """
    source = DATASETS.get(name)
    check_val_size(val_size)
    if isinstance(split_seed, bool) or not isinstance(split_seed, numbers.Integral):
        raise ValueError(f"split_seed must be an int, got {split_seed!r}")
    device = _parse_device(device)
    raw = source.read(None if data_dir is None else Path(data_dir), bool(download))
    check_matches(raw, source.info)
    count = holdout_count(val_size, len(raw.train_labels))
    kept, held = stratified_holdout(raw.train_labels, count, source.info.num_classes, int(split_seed))
    train = Split(normalize_(raw.train_images[kept], source.info), raw.train_labels[kept])
    val = Split(normalize_(raw.train_images[held], source.info), raw.train_labels[held])
    test = Split(normalize_(raw.test_images, source.info), raw.test_labels)
    return Dataset(source.info, train, val, test, val_size, int(split_seed)).to(device)


def _parse_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"not a device: {device!r} ({err})") from None


def check_matches(raw: RawSplits, info: DatasetInfo) -> None:
    """Refuse files that parse but are not this dataset (wrong size, channels or labels)."""
    for split, images, labels in (
        ("train", raw.train_images, raw.train_labels),
        ("test", raw.test_images, raw.test_labels),
    ):
        if tuple(images.shape[1:]) != info.shape:
            shape = tuple(images.shape[1:])
            raise ValueError(f"{info.name} {split} images are {shape}, expected {info.shape}")
        check_labels(labels, info.num_classes, f"{info.name} {split} files")
