"""The original DC code's `--data_path` for a raydd dataset, laid out as its users would have it,
so its own `get_dataset` reads the files (through torchvision) and nothing is handed over."""

from __future__ import annotations

import gzip
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from raydd.core.datasets import system_files
from raydd.core.datasets.digits import read_digits


@dataclass(frozen=True)
class OriginalData:
    name: str  # the original's --dataset
    path: Path  # its --data_path
    note: str  # where its files came from, for the printed report


def prepare(dataset: str, root: Path | None = None) -> OriginalData:
    """The data directory for `dataset` under `root` (default: raydd's cache), made once."""
    root = root or system_files.cache_dir() / "original-dc-data"
    if dataset == "fashion_mnist":
        return _fashion_mnist(root / "fashion_mnist")
    if dataset == "digits":
        return _digits_as_mnist(root / "digits")
    raise ValueError(f"no data directory for the original code is made for {dataset!r} here "
                     "(fashion_mnist and digits are)")


def _fashion_mnist(path: Path) -> OriginalData:
    system_dir = system_files.fashion_mnist_system_dir()
    raw = path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in system_files.RAW_FILES:
        packed = system_dir / f"{name}.gz"
        if not packed.is_file():
            raise FileNotFoundError(f"{packed} is missing (Debian package dataset-fashion-mnist, or "
                                    "RAYDD_FASHION_MNIST_DIR): the original reads the real files")
        if not (raw / name).is_file():
            with gzip.open(packed, "rb") as source, open(raw / f".{name}.part", "wb") as target:
                shutil.copyfileobj(source, target)
            (raw / f".{name}.part").rename(raw / name)
    return OriginalData("FashionMNIST", path, f"the official Fashion-MNIST files ({system_dir}), "
                        "unpacked where torchvision looks; read by the original's get_dataset")


def _digits_as_mnist(path: Path) -> OriginalData:
    """The original has no loader for digits: its images (upsampled to 28 px, [0, 1]) are written
    as MNIST idx files (uint8, as MNIST's are) that the original reads with get_dataset('MNIST')."""
    raw = path / "MNIST" / "raw"
    if not (raw / "t10k-labels-idx1-ubyte").is_file():
        raw.mkdir(parents=True, exist_ok=True)
        splits = read_digits()
        for prefix, images, labels in (("train", splits.train_images, splits.train_labels),
                                       ("t10k", splits.test_images, splits.test_labels)):
            _write_idx(raw / f"{prefix}-images-idx3-ubyte", (images[:, 0] * 255).round().to(torch.uint8))
            _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.to(torch.uint8))
    return OriginalData("MNIST", path, "digits (no loader in the original) written as MNIST idx files "
                        "(uint8), read by the original's get_dataset('MNIST') through torchvision; its "
                        "normalisation is MNIST's")


def _write_idx(path: Path, array: torch.Tensor) -> None:
    """The idx format: zero, zero, type 0x08 (uint8), the number of dimensions; big-endian sizes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(header + array.contiguous().numpy().tobytes())
    part.rename(path)
