"""Datasets as tensors: the embedded `digits` default and torchvision's MNIST, Fashion-MNIST, SVHN, CIFAR.

    data = load_dataset("digits", val_size=0.1, split_seed=0, device="cuda")
    data.train.images  # float32 [N, C, H, W], normalised with data.info.mean / data.info.std
"""

from raydd.core.datasets.class_sizes import check_ipc_fits, class_sizes, ipc_problem, sizes_of
from raydd.core.datasets.loading import DATASETS, load_dataset
from raydd.core.datasets.sources import DatasetNotFoundError, DatasetSource
from raydd.core.datasets.splits import class_indices
from raydd.core.datasets.types import Dataset, DatasetInfo, Split, denormalize

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DatasetSource",
    "Split",
    "check_ipc_fits",
    "class_indices",
    "class_sizes",
    "denormalize",
    "ipc_problem",
    "load_dataset",
    "sizes_of",
]
