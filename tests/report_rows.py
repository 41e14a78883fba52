"""Result rows for the `results report` tests: 2 ipc x 3 distilled configurations x KD off/on x 2
students x 3 evaluation seeds, each cell's accuracy drawn once from a seeded generator (so columns
rank the rows differently), and image grids for the two dc sets of ipc 1 (the other sets have none)."""

from __future__ import annotations

import json

import numpy as np

from raydd.results import write_rows
from test_results_plot import _grid_png
from test_results_support import POOL_MIXED, POOL_SINGLE, POOLS, make_row

CONFIGS = (("dc", POOL_SINGLE), ("dc", POOL_MIXED), ("dm", POOL_SINGLE))
STUDENTS = ("ConvNet", "MLP")
SEED_OFFSETS = (-0.005, 0.0, 0.005)
CLASS_NAMES = ["cat", "dog", "owl"]
BASELINE = "pool_name=ConvNet=1.0;kd=off"


def trial_key(method: str, pool: str, ipc: int) -> str:
    return f"{method}-{'mixed' if pool == POOL_MIXED else 'single'}-ipc{ipc}"


def _set_dir(root, key: str, ipc: int):
    directory = root / "sets" / key
    if ipc == 1 and key.startswith("dc-"):
        _grid_png(directory, classes=len(CLASS_NAMES), ipc=ipc, side=6)
        (directory / "meta.json").write_text(json.dumps({"dataset": {"class_names": CLASS_NAMES}}))
    return directory


def write_report_rows(root) -> str:
    """The rows as one Parquet file under `root`/results; returns that directory."""
    draw = np.random.default_rng(7)
    rows = []
    for ipc in (1, 10):
        for method, pool in CONFIGS:
            key = trial_key(method, pool, ipc)
            directory = _set_dir(root, key, ipc)
            for kd in (False, True):
                kd_fields = {"teacher": "ConvNet", "alpha": 0.5, "temperature": 4.0} if kd else {}
                for student in STUDENTS:
                    acc = round(float(draw.uniform(0.3, 0.9)), 3)
                    rows += [make_row(trial_key=key, method=method, ipc=ipc, pool_name=pool,
                                      pool=json.dumps(POOLS[pool]), pool_main_weight=POOLS[pool]["ConvNet"],
                                      student=student, kd=kd, eval_seed=seed, test_acc=acc + offset,
                                      val_acc=acc + offset, synset_uri=str(directory),
                                      grid_png_uri=str(directory / "grid.png"), **kd_fields)
                             for seed, offset in enumerate(SEED_OFFSETS)]
    location = root / "results"
    write_rows(rows, str(location))
    return str(location)
