"""Synthetic sets made by other codes (DC/DSA/DM `.pt` files, MTT's tensor pairs, image folders),
read and checked against a dataset so raydd can evaluate them like its own.

    foreign = load_foreign_set(Path("res_DC_cifar10_ConvNet_10ipc.pt"), DATASETS.get("cifar10").info)
    foreign.images  # float32 [N, C, H, W], normalised with the dataset's mean/std, as raydd's sets
    foreign.labels  # int64 [N]

Every check (format, labels, shape, class count, normalisation) runs here, on the set alone,
before any dataset is loaded or any network trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from raydd.core.datasets.types import DatasetInfo
from raydd.core.foreign.checks import (
    NORMALIZED_CHOICES,
    check_shape,
    decide_normalized,
    images_per_class,
    normalised,
    read_labels,
)
from raydd.core.foreign.readers import MAY_BE_WHITENED, ForeignSetError, read_set, require_exists

FOREIGN_METHOD = "foreign"  # the `method` of a foreign set's result rows

__all__ = ["FOREIGN_METHOD", "NORMALIZED_CHOICES", "ForeignSet", "ForeignSetError", "load_foreign_set",
           "require_exists"]


@dataclass(frozen=True, eq=False)
class ForeignSet:
    """A foreign set ready for evaluation, and where it came from."""

    images: torch.Tensor  # float32 [N, C, H, W], normalised with the dataset's mean/std
    labels: torch.Tensor  # int64 [N]
    ipc: int
    name: str  # its file or folder name (with `-expK` for one of several experiments)
    path: str  # absolute
    format: str  # dc, tensors, mtt, dd-ranking, image-folder
    normalized: str  # how it was saved: yes (normalised) or no (pixels in [0, 1])
    stated: str  # what was asked: yes, no or auto
    experiment: int | None = None
    experiments: int | None = None
    soft_labels: torch.Tensor | None = None  # float32 [N, classes] probability rows, when the set carries them
    learned_lr: float | None = None  # a learning rate distilled with the set (MTT's, DD-Ranking's lr file)
    self_described: bool = False  # its normalisation was read from its own description (`raydd export`)

    def describe(self) -> dict:
        """Its provenance as plain values (a result row's recipe carries it)."""
        described = {"format": self.format, "path": self.path, "experiment": self.experiment,
                     "experiments": self.experiments, "normalized": self.normalized, "stated": self.stated}
        if self.soft_labels is not None:
            described["soft_labels"] = True
        return {**described, "learned_lr": self.learned_lr} if self.learned_lr is not None else described

    def summary(self) -> str:
        """One line for the user: what was read, and what was decided."""
        parts = [f"{self.format} set, {self.ipc} image(s) per class"]
        if self.experiments is not None:
            parts.append(f"experiment {self.experiment} of {self.experiments} (--experiment 0..{self.experiments - 1})")
        how = "saved normalised" if self.normalized == "yes" else "pixels in [0, 1], normalised here"
        why = ("as its own description says" if self.self_described
               else "from its statistics" if self.stated == "auto" else "--normalized " + self.stated)
        parts.append(f"{how} ({why})")
        if self.soft_labels is not None:
            parts.append("soft labels (fitted under --labels soft)")
        if self.learned_lr is not None:
            parts.append(f"a learned lr of {self.learned_lr:g}")
        return ", ".join(parts)


def load_foreign_set(path: str | Path, info: DatasetInfo, *, normalized: str = "auto",
                     experiment: int | None = None) -> ForeignSet:
    """Read the set at `path` for the dataset `info`; a `ForeignSetError` (a ValueError) says
    what does not fit. `normalized`: yes, no or auto (module `checks`); `experiment`: which of a
    DC file's experiments (default the first)."""
    if normalized not in NORMALIZED_CHOICES:
        raise ForeignSetError(f"normalized must be one of {', '.join(NORMALIZED_CHOICES)}, got {normalized!r}")
    path = Path(path)
    raw = read_set(path, info, experiment)
    labels, soft = read_labels(raw.labels, info, str(path), logits=raw.logits)
    images = check_shape(raw.images, labels, info, str(path))
    ipc = images_per_class(labels, info, str(path))
    if raw.pixels and normalized == "yes":
        raise ForeignSetError(f"{path}: image files hold pixels, not normalised values; drop --normalized yes")
    is_normalised = False if raw.pixels else decide_normalized(
        images, info, normalized, str(path), may_be_whitened=raw.format in MAY_BE_WHITENED, own=raw.own)
    return ForeignSet(normalised(images, info, is_normalised), labels, ipc, raw.name, str(path.resolve()),
                      raw.format, "yes" if is_normalised else "no", normalized, raw.experiment, raw.experiments,
                      soft, raw.learned_lr, raw.own is not None and not raw.pixels)
