"""`--format json`: one document on stdout, whose numbers are those of the rows written here,
computed again here from the rows (numpy, scipy), not read from raydd's own tables."""

import json

import numpy as np
import pytest
from scipy.stats import ttest_ind

from raydd.results import write_rows
from test_results_support import POOL_MIXED, POOL_SINGLE, POOLS, make_row, run

# (pool, student) -> per distilled set (distill seed 0, 1, 2), its accuracy at evaluation seeds 0 and 1.
# ConvNet gains ~10 points with the mixed pool (clearly significant); MLP's sets overlap (not).
ACCURACY = {
    (POOL_SINGLE, "ConvNet"): [[0.50, 0.52], [0.51, 0.53], [0.49, 0.50]],
    (POOL_MIXED, "ConvNet"): [[0.60, 0.61], [0.62, 0.60], [0.61, 0.63]],
    (POOL_SINGLE, "MLP"): [[0.30, 0.34], [0.36, 0.30], [0.33, 0.29]],
    (POOL_MIXED, "MLP"): [[0.31, 0.35], [0.29, 0.33], [0.37, 0.30]],
}


def _rows() -> list[dict]:
    rows = []
    for (pool, student), sets in ACCURACY.items():
        for seed, accuracies in enumerate(sets):
            trial = f"{'mixed' if pool == POOL_MIXED else 'single'}-{seed}"
            rows += [make_row(trial_key=trial, distill_seed=seed, pool_name=pool, pool=json.dumps(POOLS[pool]),
                              pool_main_weight=POOLS[pool]["ConvNet"], student=student, eval_seed=e,
                              test_acc=acc, synset_uri=f"runs/demo/synsets/{trial}",
                              grid_png_uri=f"runs/demo/synsets/{trial}/grid.png")
                     for e, acc in enumerate(accuracies)]
    return rows


@pytest.fixture(scope="module")
def location(tmp_path_factory):
    path = tmp_path_factory.mktemp("results")
    write_rows(_rows(), str(path))
    return str(path)


def _set_means(pool: str, student: str) -> np.ndarray:
    return np.array([np.mean(s) for s in ACCURACY[(pool, student)]])


def test_show_json_cells_are_the_rows_numbers_with_marks_as_fields(location):
    result = run("show", location, "--format", "json", "--vs-baseline", f"pool_name={POOL_SINGLE}")
    assert result.exit_code == 0 and result.stderr == "", result.output
    doc = json.loads(result.stdout)  # the whole of stdout is one document
    assert doc["by"] == ["pool_name"] and doc["students"] == ["ConvNet", "MLP"]
    rows = {r["setting"]["pool_name"]: r for r in doc["rows"]}
    assert [rows[POOL_SINGLE]["baseline"], rows[POOL_MIXED]["baseline"]] == [True, False]
    significant = {}
    for student in ("ConvNet", "MLP"):
        mixed, single = _set_means(POOL_MIXED, student), _set_means(POOL_SINGLE, student)
        p = ttest_ind(mixed, single, equal_var=False).pvalue
        significant[student] = bool(p < 0.05)
        for pool, means in ((POOL_MIXED, mixed), (POOL_SINGLE, single)):
            cell = rows[pool]["cells"][student]
            assert cell["mean"] == pytest.approx(100 * means.mean(), abs=1e-4)
            assert cell["std"] == pytest.approx(100 * means.std(ddof=0), abs=1e-4)  # over the sets' means
            assert (cell["n"], cell["sets"], cell["seeds_min"], cell["seeds_max"]) == (6, 3, 2, 2)
        cell = rows[POOL_MIXED]["cells"][student]
        assert cell["diff"] == pytest.approx(100 * (mixed.mean() - single.mean()), abs=1e-4)
        assert cell["p"] == pytest.approx(p, abs=1e-4) and cell["p_level"] == "distillation seeds"
        assert cell["significant"] is significant[student]
        assert cell["best"] is bool(significant[student] and mixed.mean() > single.mean())
    assert significant == {"ConvNet": True, "MLP": False}  # the sample holds both kinds of cell


def test_query_json_holds_the_rows_written(location):
    columns = ["trial_key", "student", "kd", "eval_seed", "test_acc", "teacher", "created_at"]
    result = run("query", location, "--format", "json", "--where", "student == 'MLP'", "--columns", ",".join(columns))
    assert result.exit_code == 0 and result.stderr == "", result.output
    doc = json.loads(result.stdout)
    assert doc["columns"] == columns
    written = [{"trial_key": r["trial_key"], "student": "MLP", "kd": "off", "eval_seed": r["eval_seed"],
                "test_acc": r["test_acc"], "teacher": None, "created_at": "2025-01-02T03:04:05+00:00"}
               for r in _rows() if r["student"] == "MLP"]
    key = lambda r: (r["trial_key"], r["eval_seed"])  # noqa: E731
    assert sorted(doc["rows"], key=key) == sorted(written, key=key)


def test_show_images_json_lists_each_set_once(location):
    result = run("show", location, "--images", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["columns"][0] == "trial_key" and doc["columns"][-1] == "grid_png_uri"
    assert sorted((r["trial_key"], r["grid_png_uri"]) for r in doc["rows"]) == sorted(
        {(r["trial_key"], r["grid_png_uri"]) for r in _rows()})


@pytest.mark.parametrize("args, message", [
    (("query", "NOWHERE", "--format", "json", "--out", "rows.csv"), "--format json prints the rows and --out writes"),
    (("show", "NOWHERE", "--images", "--format", "latex"), "--images lists the grids as table, csv, json, not latex"),
])
def test_a_format_that_cannot_apply_is_one_line_before_any_rows(tmp_path, args, message):
    result = run(*[str(tmp_path / a) if a in ("NOWHERE", "rows.csv") else a for a in args])
    assert result.exit_code == 1 and result.stdout == "" and result.stderr.count("\n") == 1
    assert message in result.stderr and "does not exist" not in result.stderr  # refused before reading
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_offers_the_formats_rows_are_printed_in():
    from raydd.cli.results_cmd import ROW_FORMATS
    from raydd.results.records import ROW_FORMATS as RENDERED

    assert ROW_FORMATS == RENDERED
