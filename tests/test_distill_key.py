"""Sets distilled under different values of a distillation axis without a column of its own
(precision, lr_img, init, ...) are told apart by `distill_key`: tables, baselines and scores never
pool them, and a sweep's rows carry it."""

from __future__ import annotations

import pandas as pd
import pytest
from test_results_support import make_row

from raydd.results import default_by, load, results_table, write_rows
from raydd.results.scores import scores, summary
from raydd.spec import parse_spec
from raydd.spec.grid import distill_key
from raydd.sweep.evaluation import _set_columns


def test_the_key_holds_the_axes_without_a_column_of_their_own():
    axes = {"ipc": 1, "pool": "ConvNet=1.0", "precision": "bf16", "seed": 2, "lr_img": 100.0, "method": "dc"}
    assert distill_key(axes) == "precision_bf16-lr_img100"
    assert distill_key({"ipc": 1, "pool": "ConvNet=1.0", "seed": 0, "iterations": 10}) is None


def _sweep_points(grid: dict):
    raw = {"name": "k", "dataset": "digits", "distill": {"iterations": 2}, "grid": grid,
           "baselines": ["random_real"], "evaluation": {"students": ["MLP"], "seeds": 1}}
    spec = parse_spec(raw)
    return spec.points + spec.baselines


def test_a_sweeps_rows_carry_the_key_and_baselines_none():
    points = _sweep_points({"ipc": [1], "precision": ["fp32", "bf16"], "seed": [0, 1]})
    keys = {p.trial_key: _set_columns(p, "runs/k/synsets/x", {})["distill_key"] for p in points}
    distilled = {k: v for k, v in keys.items() if "precision" in k}
    assert sorted(set(distilled.values())) == ["precision_bf16", "precision_fp32"] and len(distilled) == 4
    assert [v for k, v in keys.items() if k not in distilled] == [None, None]  # random_real, seeds 0 and 1


def _set_rows(key: str, seed: int, accs: list[float]) -> list[dict]:
    trial = f"{key}-seed{seed}"
    return [make_row(trial_key=trial, synset_uri=f"runs/demo/synsets/{trial}", distill_key=key, distill_seed=seed,
                     eval_seed=e, test_acc=acc) for e, acc in enumerate(accs)]


@pytest.fixture
def two_precisions(tmp_path):
    rows = [row for seed in (0, 1, 2) for row in _set_rows("precision_fp32", seed, [0.50 + 0.01 * seed] * 2)]
    rows += [row for seed in (0, 1, 2) for row in _set_rows("precision_bf16", seed, [0.40 + 0.01 * seed] * 2)]
    write_rows(rows, str(tmp_path))
    return load(str(tmp_path))


def test_tables_keep_the_keys_apart_and_compare_them(two_precisions):
    assert default_by(two_precisions) == ["distill_key"]
    table = results_table(two_precisions, baseline={"distill_key": "precision_fp32"})
    assert list(table.sets["MLP"]) == [3, 3]  # three sets each, not six in one row
    means = dict(zip(table.mean.index, table.mean["MLP"]))
    assert means == pytest.approx({"precision_bf16": 41.0, "precision_fp32": 51.0})
    assert sorted(table.diff["MLP"]) == pytest.approx([-10.0, 0.0])


def test_scores_summarise_each_key_on_its_own(two_precisions):
    random = [make_row(method="random_real", trial_key=f"random-{s}", synset_uri=f"runs/r{s}", pool_name="-",
                       pool="{}", pool_main_weight=None, distill_seed=s, test_acc=0.30) for s in (0, 1, 2)]
    over = summary(scores(pd.concat([two_precisions, pd.DataFrame(random)], ignore_index=True)))
    by_key = over.set_index("distill_key")
    assert by_key["d"].to_dict() == {"precision_bf16": 3, "precision_fp32": 3}
    assert by_key.loc["precision_fp32", "IOR_mean"] == pytest.approx(21.0)
