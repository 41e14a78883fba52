"""The one check of class labels against a class count, for every place that takes labels from
outside (a set's file, a dataset's files, a caller's tensors): the first label outside
[0, classes), named with its position, before anything counts or indexes by it (a negative label
makes `torch.bincount` fail, one too large indexes past a table)."""

from __future__ import annotations

import torch


def label_problem(labels: torch.Tensor, num_classes: int) -> str | None:
    """`label -1 at index 7 is not one of the 10 classes (0..9)` for the first label outside
    [0, num_classes), or None when every label is a class."""
    outside = (labels < 0) | (labels >= num_classes)
    if not bool(outside.any()):
        return None
    index = int(outside.nonzero()[0, 0])
    return (f"label {labels[index].item()} at index {index} is not one of the {num_classes} classes "
            f"(0..{num_classes - 1})")


def check_labels(labels: torch.Tensor, num_classes: int, where: str = "") -> None:
    """`label_problem` as a ValueError, after `where` (`digits train`) when given."""
    problem = label_problem(labels, num_classes)
    if problem is not None:
        raise ValueError(f"{where}: {problem}" if where else problem)
