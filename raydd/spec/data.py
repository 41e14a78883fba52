"""What validating a sweep file reads of its dataset: the training images per class, for the one
rule ipc keeps against them (`raydd.core.datasets.class_sizes`).

How hard validation tries is the caller's `data` mode: `required` where the sweep's trials run in
this process's Ray (the data must be here, downloaded now if the file says `download: true`, as
the trials would); `if_present` where they may run elsewhere, a cluster whose nodes hold the data
(checked when the data is here, else left to the driver on the cluster, which validates again);
`skip` where nothing will run (`sweep status`). The counts are read once per process and dataset.
"""

from __future__ import annotations

from typing import Literal

from raydd.core.datasets import class_sizes
from raydd.spec.checks import Problems
from raydd.spec.model import DatasetSpec

DataMode = Literal["skip", "if_present", "required"]
DATA_MODES: tuple[DataMode, ...] = ("skip", "if_present", "required")


def dataset_class_sizes(dataset: DatasetSpec, data: DataMode, problems: Problems) -> tuple[int, ...] | None:
    """The dataset's training images per class after its validation carve, or None when they are
    not known here (a problem recorded when `data` requires them, or when the data is here and
    does not fit: another dataset's files, a carve that leaves a class no image)."""
    if data not in DATA_MODES:
        raise ValueError(f"data must be one of {', '.join(DATA_MODES)}, got {data!r}")
    if data == "skip":
        return None
    try:
        sizes = class_sizes(dataset.name, dataset.data_dir, dataset.download and data == "required",
                            dataset.val_size)
    except OSError as error:  # DatasetNotFoundError included: missing files, unreadable directory
        if data == "required":
            problems.add("dataset", f"{error} (the sweep's trials run on this machine)")
        return None
    except ValueError as error:  # the files are here but are not this dataset, or the carve takes all
        problems.add("dataset.val_size" if str(error).startswith("val_size") else "dataset", str(error))
        return None
    empty = [index for index, size in enumerate(sizes) if size == 0]
    if empty:
        problems.add("dataset.val_size", f"{dataset.val_size!r} leaves class(es) {empty} of {dataset.name} "
                                         "no training image")
        return None
    return sizes
