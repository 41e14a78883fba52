"""A foreign set's tensors against the dataset it is evaluated on: labels covering every class
equally (class indices, one-hot rows, or soft labels kept for `labels: soft`), images of the
dataset's shape, and whether they are saved normalised.

Normalisation (`--normalized yes|no|auto`): raydd trains students on images normalised with the
dataset's per-channel mean and std. `no` means the set holds pixels in [0, 1], which raydd then
normalises; `yes` means it is saved normalised already (DC, DSA, DM and MTT without ZCA save so).
`auto` decides from the set's statistics and stops, saying which flag to pass, when they do not
clearly say one or the other. A set that describes itself (`raydd export`) is taken at its word.

ZCA: raydd does not undo whitening, so a set that looks whitened is refused, but only in a format
whose code can whiten (`readers.MAY_BE_WHITENED`): the DatasetCondensation code never does, and a
set it distilled from its default noise initialisation keeps uncorrelated neighbouring pixels that
only look whitened.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raydd.core.datasets.labels import label_problem
from raydd.core.datasets.types import DatasetInfo, normalize_
from raydd.core.foreign.readers import ForeignSetError

NORMALIZED_CHOICES = ("yes", "no", "auto")
# Pixels in [0, 1], give or take float rounding of a saved set.
UNIT_SLACK = 1e-3
# How far a [0, 1] set's channel mean may sit from the dataset's pixel mean, and a normalised
# set's channel mean from 0 (distilled images drift from the data's statistics, never this far).
MEAN_SLACK = 0.3
# A normalised set's channel std: near 1 (distillation sharpens or flattens contrast, up to ~2x).
STD_RANGE = (0.5, 2.0)
# Neighbouring pixels of images (and of sets distilled from them) correlate far above this (digits:
# 0.95); ZCA whitening (MTT's --zca) removes most of it from images with fine detail. Whitening
# with MTT's eps 0.1 also damps every low-variance direction: digits whitened so have std 0.23.
ZCA_CORRELATION = 0.5


def read_labels(labels: torch.Tensor, info: DatasetInfo, where: str, logits: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(int64 [N] class indices, float32 [N, classes] soft labels or None) from class indices,
    one-hot rows, or soft labels: probability rows, or logits when `logits` (DD-Ranking's), turned
    into probabilities by softmax. A soft-labelled image's class is its most probable one."""
    from raydd.core.evaluate.labels import check_soft_labels

    if labels.ndim == 2:
        if labels.shape[1] != info.num_classes:
            raise ForeignSetError(f"{where}: labels have {labels.shape[1]} columns; {info.name} has "
                                  f"{info.num_classes} classes")
        if logits:
            labels = torch.softmax(labels.double(), dim=1)
        one_hot = bool(((labels == 0) | (labels == 1)).all() and (labels.sum(dim=1) == 1).all())
        if one_hot:
            return labels.argmax(dim=1).to(torch.int64), None
        try:
            soft = check_soft_labels(labels, len(labels), info.num_classes, where)
        except ValueError as err:
            raise ForeignSetError(str(err)) from None
        return soft.argmax(dim=1).to(torch.int64), soft
    if labels.ndim != 1:
        raise ForeignSetError(f"{where}: labels of shape {tuple(labels.shape)}; expected [N] class indices, "
                              "[N, classes] one-hot rows or soft labels")
    if labels.is_floating_point() and not bool((labels == labels.round()).all()):
        raise ForeignSetError(f"{where}: labels are fractional numbers, not class indices")
    return labels.to(torch.int64), None


def images_per_class(labels: torch.Tensor, info: DatasetInfo, where: str) -> int:
    """The set's ipc: every class of the dataset, each with the same number of images."""
    if len(labels) == 0:
        raise ForeignSetError(f"{where} is empty")
    problem = label_problem(labels, info.num_classes)
    if problem is not None:
        raise ForeignSetError(f"{where}: {problem.replace(' classes', f' classes of {info.name}', 1)}")
    counts = torch.bincount(labels, minlength=info.num_classes)
    missing = [i for i, c in enumerate(counts.tolist()) if c == 0]
    if missing:
        raise ForeignSetError(f"{where}: labels cover {info.num_classes - len(missing)} of {info.name}'s "
                              f"{info.num_classes} classes (none of {', '.join(map(str, missing[:5]))})")
    if int(counts.min()) != int(counts.max()):
        raise ForeignSetError(f"{where}: classes hold {int(counts.min())} to {int(counts.max())} images; raydd "
                              "evaluates sets with the same number of images per class")
    return int(counts[0])


def check_shape(images: torch.Tensor, labels: torch.Tensor, info: DatasetInfo, where: str) -> torch.Tensor:
    """The images as float32 [N, C, H, W] of the dataset's shape, finite, one per label."""
    if not images.is_floating_point():
        raise ForeignSetError(f"{where}: images are {images.dtype}; expected floating-point pixels")
    if images.ndim != 4 or tuple(images.shape[1:]) != info.shape:
        raise ForeignSetError(f"{where}: images have shape {list(images.shape)}; {info.name} images are "
                              f"{list(info.shape)} (channels, height, width)")
    if len(images) != len(labels):
        raise ForeignSetError(f"{where}: {len(images)} images but {len(labels)} labels")
    if not bool(torch.isfinite(images).all()):
        raise ForeignSetError(f"{where}: the images hold NaN or infinite values")
    return images.to(torch.float32)


@dataclass(frozen=True)
class Statistics:
    """What `auto` reads: per-channel mean and std, the value range, neighbour correlation."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: float
    high: float
    neighbour_correlation: float

    @classmethod
    def of(cls, images: torch.Tensor) -> "Statistics":
        x = images.to(torch.float64)
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3), correction=0)
        centred = x - mean.view(1, -1, 1, 1)
        left, right = centred[..., :-1].flatten(), centred[..., 1:].flatten()
        denominator = float(left.norm() * right.norm())
        correlation = float(left @ right) / denominator if denominator > 0 else 0.0
        return cls(tuple(mean.tolist()), tuple(std.tolist()), float(x.min()), float(x.max()), correlation)

    def describe(self) -> str:
        return (f"channel mean {_numbers(self.mean)}, std {_numbers(self.std)}, values in "
                f"[{self.low:.2f}, {self.high:.2f}]")


def _numbers(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def decide_normalized(images: torch.Tensor, info: DatasetInfo, stated: str, where: str,
                      may_be_whitened: bool = True, own: dict | None = None) -> bool:
    """Whether the images are saved normalised with the dataset's mean/std (True) or as pixels
    in [0, 1] (False): as `stated` (yes or no), as the set's `own` description says, or, for
    auto, from their statistics (a whitened look refused only where `may_be_whitened`)."""
    if own is not None:
        if own["zca"]:
            raise ForeignSetError(f"{where} says it is ZCA-whitened; raydd's students train on mean/std-normalised "
                                  "images and it does not undo ZCA: save the set without ZCA")
        if stated != "auto" and (stated == "yes") != own["normalized"]:
            raise ForeignSetError(f"{where} says it is saved {'normalised' if own['normalized'] else 'as pixels'}; "
                                  f"--normalized {stated} contradicts it")
        stated = "yes" if own["normalized"] else "no"
    if stated == "yes":
        return True
    stats = Statistics.of(images)
    if stated == "no":
        if stats.low < -UNIT_SLACK or stats.high > 1 + UNIT_SLACK:
            raise ForeignSetError(f"{where}: --normalized no, but the values run from {stats.low:.2f} to "
                                  f"{stats.high:.2f}, not pixels in [0, 1]")
        return False
    unit = _looks_unit(stats, info)
    if may_be_whitened and not unit and _looks_whitened(stats):
        raise ForeignSetError(
            f"{where} looks ZCA-whitened (centred, channel std {_numbers(stats.std)}, neighbouring pixels "
            f"correlating at {stats.neighbour_correlation:.2f}); raydd's students train on mean/std-normalised "
            "images and it does not undo ZCA: save the set without ZCA, or pass --normalized yes if it is "
            "not whitened")
    normalised = _looks_normalised(stats)
    if unit != normalised:
        return normalised
    raise ForeignSetError(
        f"cannot tell whether {where} is normalised ({stats.describe()}; {info.name}'s pixel mean is "
        f"{_numbers(info.mean)}): pass --normalized yes if it is saved normalised with {info.name}'s mean/std, "
        "or --normalized no if it holds pixels in [0, 1]")


def _looks_unit(stats: Statistics, info: DatasetInfo) -> bool:
    """Pixels in [0, 1] whose channel means sit near the dataset's pixel means."""
    in_range = stats.low >= -UNIT_SLACK and stats.high <= 1 + UNIT_SLACK
    return in_range and all(abs(m - d) <= MEAN_SLACK for m, d in zip(stats.mean, info.mean))


def _looks_whitened(stats: Statistics) -> bool:
    """Centred values with a std well below 1 or nearly uncorrelated neighbours: what ZCA leaves."""
    centred = all(abs(m) <= MEAN_SLACK for m in stats.mean)
    return centred and (max(stats.std) < STD_RANGE[0] or stats.neighbour_correlation < ZCA_CORRELATION)


def _looks_normalised(stats: Statistics) -> bool:
    """Channel means near 0 and stds near 1, with values outside [0, 1]."""
    outside = stats.low < -UNIT_SLACK or stats.high > 1 + UNIT_SLACK
    return outside and all(abs(m) <= MEAN_SLACK for m in stats.mean) and all(
        STD_RANGE[0] <= s <= STD_RANGE[1] for s in stats.std)


def normalised(images: torch.Tensor, info: DatasetInfo, is_normalised: bool) -> torch.Tensor:
    """The images as raydd trains on them: normalised with the dataset's mean/std."""
    return images if is_normalised else normalize_(images.clone(), info)
