"""The `dataset:` section."""

from __future__ import annotations

from typing import Any

from raydd.core.datasets import DATASETS
from raydd.spec.model import DatasetSpec
from raydd.spec.problems import _INVALID, _Problems, _known
from raydd.spec.values import _bool, _number, _section, _string


DATASET_KEYS = ("name", "data_dir", "download", "val_size")


def _parse_dataset(value: Any, problems: _Problems) -> Any:
    if isinstance(value, str):  # shorthand `dataset: digits`
        value = {"name": value}
    before = len(problems)
    entry = _section(value, "dataset", problems, DATASET_KEYS, required=("name",))
    if entry is _INVALID:
        return _INVALID
    name = entry.get("name")
    if "name" in entry and _string(name, "dataset.name", problems) is not _INVALID and name not in DATASETS:
        problems.add("dataset.name", f"unknown dataset {name!r}; known: {_known(DATASETS)}")
    data_dir = entry.get("data_dir")
    if data_dir is not None:
        _string(data_dir, "dataset.data_dir", problems)
    download = _bool(entry.get("download", False), "dataset.download", problems)
    if download is True and data_dir is None:
        problems.add("dataset.download", "true needs dataset.data_dir, the directory to download into")
    val_size = _number(entry.get("val_size", 0.1), "dataset.val_size", problems, above=0, below=1)
    if len(problems) > before:
        return _INVALID
    return DatasetSpec(name, data_dir, download, val_size)
