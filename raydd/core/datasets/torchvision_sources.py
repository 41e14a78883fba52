"""Datasets read by torchvision's own dataset classes: mnist, fashion_mnist, svhn, cifar10, cifar100.

torchvision finds, checks (CIFAR and SVHN by md5) and parses the files; raydd then takes the whole
split's `.data` array at once, which is far faster than iterating the dataset image by image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from raydd.core.datasets import system_files
from raydd.core.datasets.constants import CIFAR100_CLASSES, CIFAR10_CLASSES, FASHION_MNIST_CLASSES
from raydd.core.datasets.sources import DatasetNotFoundError, DatasetSource, RawSplits, uint8_to_unit
from raydd.core.datasets.types import DatasetInfo

DIGIT_NAMES = tuple(str(d) for d in range(10))


def _mnist_arrays(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.data.unsqueeze(1), ds.targets  # uint8 [N, H, W] -> [N, 1, H, W]


def _cifar_arrays(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.as_tensor(ds.targets)  # HWC -> CHW


def _svhn_arrays(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(ds.data), torch.from_numpy(ds.labels)  # already [N, C, H, W]; 10 -> 0 done


def _train_flag(train: bool) -> dict[str, Any]:
    return {"train": train}


def _svhn_split(train: bool) -> dict[str, Any]:
    return {"split": "train" if train else "test"}  # SVHN's "extra" split is not used


@dataclass(frozen=True)
class TorchvisionReader:
    """Reads one dataset through the torchvision class `class_name` found under a data directory."""

    name: str
    class_name: str
    layout: str  # where the files are expected, for the error message
    arrays: Callable[[Any], tuple[torch.Tensor, torch.Tensor]]
    split_kwargs: Callable[[bool], dict[str, Any]]

    def __call__(self, data_dir: Path | None, download: bool) -> RawSplits:
        root = self._root(data_dir, download)
        train_images, train_labels = self.arrays(self._open(root, train=True, download=download))
        test_images, test_labels = self.arrays(self._open(root, train=False, download=download))
        return RawSplits(
            uint8_to_unit(train_images),
            train_labels.to(torch.int64),
            uint8_to_unit(test_images),
            test_labels.to(torch.int64),
        )

    def _root(self, data_dir: Path | None, download: bool) -> Path:
        if data_dir is None and download:
            raise ValueError(f"{self.name}: download=True needs a data_dir to download into (--data-dir DIR)")
        if data_dir is None:
            raise DatasetNotFoundError(
                f"{self.name}: no data directory given. Pass --data-dir DIR holding {self.layout}, "
                f"or add --download / download=True to fetch it into DIR."
            )
        return Path(data_dir).expanduser()

    def _open(self, root: Path, *, train: bool, download: bool) -> Any:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, self.class_name)
        try:
            return dataset_class(str(root), download=download, **self.split_kwargs(train))
        except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
            if download:
                raise
            raise DatasetNotFoundError(
                f"{self.name}: data not found (or failing its checksum) in {root}: expected {self.layout} "
                f"[torchvision: {err}]. Pass --download / download=True to fetch it into {root}."
            ) from err


def read_fashion_mnist(data_dir: Path | None, download: bool) -> RawSplits:
    """From `data_dir` when it holds the files (or downloads them); else from the system copy."""
    if data_dir is not None or download:
        try:
            return _FASHION_MNIST_READER(data_dir, download)
        except DatasetNotFoundError:
            pass  # fall back to the copy installed with the operating system
    root = system_files.fashion_mnist_root()
    if root is None:
        where = f"in {data_dir} nor " if data_dir is not None else ""
        raise DatasetNotFoundError(
            f"fashion_mnist: not found {where}in {system_files.fashion_mnist_system_dir()} "
            f"(Debian package dataset-fashion-mnist). Pass --data-dir DIR with --download / "
            f"download=True to fetch it into DIR."
        )
    return _FASHION_MNIST_READER(root, False)


def _info(
    name: str, mean: tuple[float, ...], std: tuple[float, ...], size: int, classes: tuple[str, ...]
) -> DatasetInfo:
    return DatasetInfo(name, len(mean), size, len(classes), mean, std, classes)


_MNIST_LAYOUT = "{}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte (uncompressed idx files)"
_FASHION_MNIST_READER = TorchvisionReader(
    "fashion_mnist", "FashionMNIST", _MNIST_LAYOUT.format("FashionMNIST"), _mnist_arrays, _train_flag
)

# Normalisation constants: the ones the DC/DSA/DM reference code uses, so numbers are comparable.
MNIST = DatasetSource(
    _info("mnist", (0.1307,), (0.3081,), 28, DIGIT_NAMES),
    TorchvisionReader("mnist", "MNIST", _MNIST_LAYOUT.format("MNIST"), _mnist_arrays, _train_flag),
)
FASHION_MNIST = DatasetSource(
    _info("fashion_mnist", (0.2861,), (0.3530,), 28, FASHION_MNIST_CLASSES), read_fashion_mnist
)
SVHN = DatasetSource(
    _info("svhn", (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 32, DIGIT_NAMES),
    TorchvisionReader("svhn", "SVHN", "{train,test}_32x32.mat", _svhn_arrays, _svhn_split),
)
CIFAR10 = DatasetSource(
    _info("cifar10", (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), 32, CIFAR10_CLASSES),
    TorchvisionReader(
        "cifar10", "CIFAR10", "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
        _cifar_arrays, _train_flag,
    ),
)
CIFAR100 = DatasetSource(
    _info("cifar100", (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762), 32, CIFAR100_CLASSES),
    TorchvisionReader(
        "cifar100", "CIFAR100", "cifar-100-python/{train,test,meta}", _cifar_arrays, _train_flag
    ),
)
