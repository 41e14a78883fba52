"""Hand-made result rows with known numbers, shared by the tests/test_results_*.py files.

The sample: 2 pools x KD off/on x 2 students (MLP listed before ConvNet) x eval seeds 0, 1.
Each cell's two seeds sit at base -/+ 1 point, so mean = base and std (ddof 0, raydd.stats) = 1 point.

| pool_name                   | kd    | ConvNet | MLP | mean |
|-----------------------------|-------|---------|-----|------|
| ConvNet=0.9,ConvNetW64=0.1  | False | 52      | 34  | 43   |
| ConvNet=0.9,ConvNetW64=0.1  | True  | 52      | 36  | 44   |
| ConvNet=1.0                 | False | 50      | 30  | 40   |
| ConvNet=1.0                 | True  | 50      | 32  | 41   |
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.results import write_rows

POOL_MIXED = "ConvNet=0.9,ConvNetW64=0.1"
POOL_SINGLE = "ConvNet=1.0"
POOLS = {POOL_MIXED: {"ConvNet": 0.9, "ConvNetW64": 0.1}, POOL_SINGLE: {"ConvNet": 1.0}}
BASE = {  # (pool, student) -> test accuracy without KD, fraction
    (POOL_MIXED, "ConvNet"): 0.52, (POOL_MIXED, "MLP"): 0.34,
    (POOL_SINGLE, "ConvNet"): 0.50, (POOL_SINGLE, "MLP"): 0.30,
}
KD_GAIN = {"ConvNet": 0.0, "MLP": 0.02}
SEED_OFFSET = {0: -0.01, 1: +0.01}
SPREAD_PCT = 1.0  # population std (ddof 0) of {b - 1, b + 1} points; ddof 1 would give sqrt(2)


def make_row(**overrides) -> dict:
    """One valid row (pool ConvNet=1.0, MLP, no KD, seed 0); keyword arguments replace columns."""
    row = {
        "sweep": "demo", "trial_key": "t-single-0", "method": "dc", "dataset": "digits", "ipc": 1,
        "pool_name": POOL_SINGLE, "pool": json.dumps(POOLS[POOL_SINGLE]), "pool_main_weight": 1.0,
        "pool_warmup": 0, "iterations": 10, "distill_key": None, "distill_seed": 0, "student": "MLP", "teacher": None,
        "kd": False, "alpha": None, "temperature": None, "eval_seed": 0, "val_acc": 0.35,
        "test_acc": 0.30, "train_seconds": 1.5, "train_acc": 0.9, "device": "cpu", "node": "10.0.0.1", "distill_seconds": 12.0,
        "synset_uri": "runs/demo/synsets/t-single-0", "grid_png_uri": "runs/demo/synsets/t-single-0/grid.png",
        "epochs": 20, "augment": "none", "lr": 0.01, "eval_key": None,
        "labels": "hard", "label_bytes": 80, "selection": "validation", "learned_lr": None,
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "raydd_version": "0.1.0", "raydd_commit": "0123abcd", "torch_version": "2.0.0",
        "config_json": json.dumps({"dataset": "digits", "ipc": 1}),
    }
    row.update(overrides)
    return row


def cell_rows(pool: str, kd: bool, student: str) -> list[dict]:
    trial = f"t-{'mixed' if pool == POOL_MIXED else 'single'}-0"
    acc = BASE[(pool, student)] + (KD_GAIN[student] if kd else 0.0)
    kd_fields = {"teacher": "ConvNet", "alpha": 0.5, "temperature": 4.0} if kd else {}
    return [
        make_row(trial_key=trial, pool_name=pool, pool=json.dumps(POOLS[pool]),
                 pool_main_weight=POOLS[pool]["ConvNet"], student=student, kd=kd, eval_seed=seed,
                 test_acc=acc + offset, val_acc=acc + offset + 0.05,
                 synset_uri=f"runs/demo/synsets/{trial}", grid_png_uri=f"runs/demo/synsets/{trial}/grid.png",
                 **kd_fields)
        for seed, offset in SEED_OFFSET.items()
    ]


def write_sample(location) -> list[str]:
    """The sample as 4 Parquet files (one per pool x kd), as 4 separate writers would leave it."""
    paths = []
    for pool in POOLS:
        for kd in (False, True):
            rows = [r for student in ("MLP", "ConvNet") for r in cell_rows(pool, kd, student)]
            paths.append(write_rows(rows, str(location)))
    return paths


@pytest.fixture(scope="module")
def location(tmp_path_factory) -> str:
    """The sample written once for a test module; its directory (import it to use it)."""
    path = tmp_path_factory.mktemp("results")
    write_sample(path)
    return str(path)


def run(*args: str):
    """`raydd results ARGS` through click's test runner."""
    return CliRunner().invoke(cli, ["results", *args])


def test_sample_has_the_documented_shape(tmp_path):
    assert len(write_sample(tmp_path)) == 4
    assert len(list(tmp_path.glob("part-*.parquet"))) == 4
