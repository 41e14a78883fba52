"""The data containers every other layer codes against: DatasetInfo, Split, Dataset."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DatasetInfo:
    """What a model or a plot needs to know about a dataset, without its pixels.

    `image_size` is the side of the (square) images in pixels; `mean`/`std` are the per-channel
    constants the images were normalised with, so `denormalize` can undo it.
    """

    name: str
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"{self.name}: mean and std need one value per channel ({self.channels})")
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's shape, (C, H, W)."""
        return (self.channels, self.image_size, self.image_size)


# eq=False: comparing tensors element-wise is not what `==` on a split should mean.
@dataclass(frozen=True, eq=False)
class Split:
    """Normalised images float32 [N, C, H, W] and their labels int64 [N], on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != torch.float32:
            raise ValueError(
                f"images must be float32 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.ndim != 1 or self.labels.dtype != torch.int64:
            raise ValueError(f"labels must be int64 [N], got {self.labels.dtype} {tuple(self.labels.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.images.device != self.labels.device:
            raise ValueError(f"images on {self.images.device} but labels on {self.labels.device}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: str | torch.device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset ready for training: `val` is carved (seeded) from the training data, `train` excludes it."""

    info: DatasetInfo
    train: Split
    val: Split
    test: Split
    # How `val` was carved (None when built by hand): recorded with a distilled set, so that its
    # evaluation carves the same validation images that distillation never trained on.
    val_size: float | int | None = None
    split_seed: int | None = None

    def to(self, device: str | torch.device) -> Dataset:
        return Dataset(self.info, self.train.to(device), self.val.to(device), self.test.to(device),
                       self.val_size, self.split_seed)


def denormalize(images: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """Undo the dataset normalisation; pixels are clamped to [0, 1] (synthetic images may overshoot)."""
    if images.ndim != 4 or images.shape[1] != info.channels:
        raise ValueError(f"expected [N, {info.channels}, H, W] images, got {tuple(images.shape)}")
    mean = torch.tensor(info.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(info.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images * std + mean).clamp_(0.0, 1.0)


def normalize_(images: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """Normalise [0, 1] images in place with the dataset's constants (in place: CIFAR is 600 MB)."""
    mean = torch.tensor(info.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(info.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return images.sub_(mean).div_(std)
