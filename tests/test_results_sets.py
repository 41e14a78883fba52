"""Distilled sets as the unit of a table: each set's evaluation seeds are averaged first, cells are
mean ± std over the sets' means with n = d×e, significance is tested over set means where each
side has two sets or more ("evaluation seeds only" otherwise), and label regimes and selection
modes are never averaged together."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_ind
from test_results_support import make_row

from raydd.results import render, results_table
from raydd.results.cells import SEED_LEVEL, SET_LEVEL
from raydd.results.figures import bar_figure


def _set_rows(pool: str, set_means: list[float], offsets=(-0.002, 0.0, 0.002), **extra) -> list[dict]:
    """One set per distillation seed d (mean `set_means[d]`), its evaluation seeds at mean + offset."""
    rows = []
    for seed, centre in enumerate(set_means):
        trial = f"{pool}-seed{seed}"
        rows += [make_row(trial_key=trial, synset_uri=f"runs/demo/synsets/{trial}", distill_seed=seed,
                          pool_name=pool, pool=json.dumps({pool.split("=")[0]: 1.0}), eval_seed=e,
                          test_acc=centre + offset, **extra) for e, offset in enumerate(offsets)]
    return rows


def test_a_cell_is_mean_and_std_over_the_sets_means_with_n_as_d_by_e():
    rows = _set_rows("A=1.0", [0.50, 0.60, 0.70])
    rows += [make_row(**{**rows[-1], "eval_seed": 3, "test_acc": 0.74})]  # the third set has a fourth seed
    table = results_table(pd.DataFrame(rows), by=["pool_name"])
    set_means = [0.50, 0.60, np.mean([0.698, 0.70, 0.702, 0.74])]
    cell = table.cell(0, "MLP")
    assert cell.mean == pytest.approx(100 * np.mean(set_means))  # not the mean of the 10 runs pooled
    assert cell.std == pytest.approx(100 * np.std(set_means))  # population std over the sets
    assert (cell.sets, cell.seeds_min, cell.seeds_max, cell.runs) == (3, 3, 4, 10)
    assert f"{cell.mean:.2f} ± {cell.std:.2f} (3×3-4)" in render(table, "table")


def test_one_set_keeps_the_spread_of_its_evaluation_seeds():
    table = results_table(pd.DataFrame(_set_rows("A=1.0", [0.50], offsets=(-0.01, 0.01))), by=["pool_name"])
    assert "50.00 ± 1.00 (1×2)" in render(table, "table")


def test_significance_is_tested_over_the_sets_means_where_each_side_has_two_sets():
    base, other = [0.50, 0.52, 0.51], [0.60, 0.63, 0.61]
    frame = pd.DataFrame(_set_rows("A=1.0", base) + _set_rows("B=1.0", other))
    table = results_table(frame, by=["pool_name"], baseline={"pool_name": "A=1.0"})
    expected = ttest_ind([100 * m for m in other], [100 * m for m in base], equal_var=False).pvalue
    assert float(table.p_value["MLP"].iloc[1]) == pytest.approx(expected)
    assert table.p_level["MLP"].iloc[1] == SET_LEVEL and table.mark(1, "MLP") == "†"
    cells = json.loads(render(table, "json"))["rows"][1]["cells"]["MLP"]
    assert cells["p_level"] == SET_LEVEL and (cells["sets"], cells["seeds"]) == (3, "3")
    row = list(csv.DictReader(io.StringIO(render(table, "csv"))))[1]
    assert (row["MLP p_level"], row["MLP sets"], row["MLP seeds"]) == (SET_LEVEL, "3", "3")


def test_tight_evaluation_seeds_do_not_make_a_difference_between_distillations_significant():
    """Sets of one recipe differ far more than students on one set: tested over evaluation seeds the
    two pools look different, tested over their sets they do not."""
    base, other = [0.50, 0.53], [0.54, 0.56]  # set means scatter by 1-1.5 points, evaluation seeds by 0.2
    frame = pd.DataFrame(_set_rows("A=1.0", base) + _set_rows("B=1.0", other))
    table = results_table(frame, by=["pool_name"], baseline={"pool_name": "A=1.0"})
    pooled = ttest_ind([r["test_acc"] for r in _set_rows("B=1.0", other)],
                       [r["test_acc"] for r in _set_rows("A=1.0", base)], equal_var=False).pvalue
    assert pooled < 0.05  # what a test over all runs pooled would claim
    assert table.p_level["MLP"].iloc[1] == SET_LEVEL and not table.significant(1, "MLP")


def test_one_set_on_a_side_is_tested_over_evaluation_seeds_only_and_says_so():
    frame = pd.DataFrame(_set_rows("A=1.0", [0.50]) + _set_rows("B=1.0", [0.60, 0.61]))
    table = results_table(frame, by=["pool_name"], baseline={"pool_name": "A=1.0"})
    assert table.p_level["MLP"].iloc[1] == SEED_LEVEL and table.mark(1, "MLP") == "‡"
    text = render(table, "table")
    assert "‡" in text.split("\n\n")[0] and "evaluation seeds only" in text
    assert "$^\\ddagger$" in render(table, "latex")


def test_best_is_marked_by_the_same_test():
    frame = pd.DataFrame(_set_rows("A=1.0", [0.50, 0.51]) + _set_rows("B=1.0", [0.60, 0.61]))
    table = results_table(frame, by=["pool_name"])
    assert table.best("MLP") == {1}
    assert "**60.50 ± 0.50 (2×3)**" in render(table, "markdown")


def test_the_plot_draws_the_spread_over_sets_and_states_d_by_e():
    frame = pd.DataFrame(_set_rows("A=1.0", [0.50, 0.60]))
    fig = bar_figure(frame, by=["pool_name"])
    (bars,) = [c for c in fig.axes[0].containers if hasattr(c, "errorbar") and c.errorbar]
    (segment,) = bars.errorbar.lines[2][0].get_segments()
    assert segment[1][1] - segment[0][1] == pytest.approx(2 * 5.0)  # ± std of the set means 50, 60
    assert "n = 2×3 per bar" in fig.get_supxlabel().replace("\n", " ")


@pytest.mark.parametrize("column, values", [("labels", ("hard", "soft")), ("selection", ("validation", "test-max"))])
def test_regimes_and_selection_modes_are_split_by_default_and_never_pooled(column, values):
    frame = pd.DataFrame([make_row(**{column: value}, eval_seed=e, test_acc=0.3 + 0.1 * i + 0.01 * e)
                          for i, value in enumerate(values) for e in range(2)])
    assert column in results_table(frame).by
    with pytest.raises(ValueError, match=f"the rows mix {column} .* never averaged together"):
        results_table(frame, by=["pool_name"])


def test_test_max_rows_are_marked_in_every_format_and_the_plot():
    frame = pd.DataFrame([make_row(selection="test-max", eval_seed=e, test_acc=0.3 + 0.01 * e) for e in range(2)])
    table = results_table(frame)
    for fmt in ("table", "markdown", "latex"):
        assert "TEST-MAX" in render(table, fmt), fmt
    assert json.loads(render(table, "json"))["comparison_only"] is True
    fig = bar_figure(frame)
    assert "TEST-MAX" in fig.axes[0].get_title() and "TEST-MAX" in fig.get_supxlabel()
