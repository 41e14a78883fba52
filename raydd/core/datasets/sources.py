"""What a dataset source is: static facts (DatasetInfo) plus a function that reads the pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from raydd.core.datasets.types import DatasetInfo


class DatasetNotFoundError(FileNotFoundError, ValueError):
    """The files of a dataset are not where we looked, and downloading was not asked for.

    A `FileNotFoundError` for callers that think in files, and a `ValueError` so that the CLI's
    bad-input handling reports it like any other wrong argument.
    """


@dataclass(frozen=True, eq=False)
class RawSplits:
    """A source's official train and test splits: float32 [N, C, H, W] pixels in [0, 1], int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


# (data_dir, download) -> the official splits, un-normalised.
Reader = Callable[[Path | None, bool], RawSplits]


@dataclass(frozen=True)
class DatasetSource:
    """A registry entry: the dataset's facts and how to read it."""

    info: DatasetInfo
    read: Reader


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] pixels -> contiguous float32 in [0, 1], the whole split at once."""
    return images.contiguous().to(torch.float32).div_(255.0)
