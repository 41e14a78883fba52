"""`raydd results show|query|plot` through click's test runner."""

import json

import matplotlib.image as mpimg
import pandas as pd
import pytest

from test_results_support import POOL_SINGLE, location, run  # noqa: F401 - location is a fixture


def test_show_prints_the_table(location):
    result = run("show", location)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["pool_name", "kd", "ConvNet", "MLP", "mean"]
    assert "36.00 ± 1.00 (1×2)" in result.output and "(1×2) *" not in result.output  # 2 seeds: no best mark


def test_show_json_with_baseline_and_metric(location):
    result = run("show", location, "--format", "json", "--metric", "val_acc",
                 "--vs-baseline", f"pool_name={POOL_SINGLE}", "--vs-baseline", "kd=false")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["metric"] == "val_acc" and doc["rows"][2]["baseline"] is True
    assert doc["rows"][1]["cells"]["MLP"]["mean"] == pytest.approx(41.0)  # val = test + 5 points
    assert doc["rows"][1]["cells"]["MLP"]["diff"] == pytest.approx(6.0)


def test_show_by_one_key(location):
    result = run("show", location, "--by", "kd", "--format", "csv")
    assert result.exit_code == 0, result.output
    header, off, on = result.output.splitlines()
    assert header.startswith("kd,ConvNet mean") and on.startswith("on,51.0,")


def test_show_where_tabulates_only_the_rows_it_keeps(location):
    result = run("show", location, "--where", "not kd", "--format", "csv")
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.startswith("pool_name,ConvNet mean") and len(rows) == 2  # kd no longer varies
    single = next(r for r in rows if r.startswith(POOL_SINGLE))
    assert single.split(",")[1:2] == ["50.0"] and ",30.0," in single  # the kd-off numbers of the sample


def test_show_latex(location):
    result = run("show", location, "--format", "latex", "--vs-baseline", f"pool_name={POOL_SINGLE};kd=false")
    assert result.exit_code == 0, result.output
    assert "\\begin{tabular}" in result.output and "(baseline)" in result.output


def test_show_images_lists_each_trial_grid(location):
    result = run("show", location, "--images")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and "grid_png_uri" in lines[0]
    assert any(line.endswith("runs/demo/synsets/t-mixed-0/grid.png") for line in lines)


@pytest.mark.parametrize("args, message", [
    (("show", "LOC", "--vs-baseline", "pool_name=ConvNet=0.5"), "matches no row"),
    (("show", "LOC", "--vs-baseline", "kd"), "not key=value"),
    (("show", "LOC", "--by", "colour"), "unknown group-by column"),
    (("show", "NOWHERE"), "does not exist"),
    (("query", "LOC", "--where", "kd and and"), "bad filter"),
    (("show", "LOC", "--where", "__import__('os')"), "bad filter"),
    (("query", "LOC", "--where", "kd", "--out", "rows.xlsx"), "use a .csv or .parquet file"),
    (("query", "LOC", "--where", "kd", "--columns", "colour"), "unknown column"),
    (("plot", "LOC", "--out", "fig.gif"), "must end with one of .png"),
])
def test_errors_are_one_clear_line(location, tmp_path, args, message):
    args = [location if a == "LOC" else str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in args]
    result = run(*args)
    assert result.exit_code == 1 and "Error: " in result.output and message in result.output, result.output


def test_query_prints_matching_rows(location):
    result = run("query", location, "--where", "kd and student == 'MLP' and eval_seed == 0",
                 "--columns", "pool_name,test_acc")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["pool_name", "test_acc"] and len(lines) == 3


@pytest.mark.parametrize("suffix, reader", [(".csv", pd.read_csv), (".parquet", pd.read_parquet)])
def test_query_exports(location, tmp_path, suffix, reader):
    out = tmp_path / f"rows{suffix}"
    result = run("query", location, "--where", f"pool_name == '{POOL_SINGLE}' and not kd", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = reader(out)
    assert len(rows) == 4 and set(rows["student"]) == {"ConvNet", "MLP"}
    assert sorted(rows["test_acc"].round(6)) == [0.29, 0.31, 0.49, 0.51]


def test_plot_writes_both_figures(location, tmp_path):
    out = tmp_path / "acc.png"
    result = run("plot", location, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(out), str(tmp_path / "acc_pool_weight.png")]
    assert mpimg.imread(out).ndim == 3


def test_show_puts_several_locations_into_one_table(location, tmp_path):
    other = _evaluate_rows(tmp_path / "evaluate-rows")
    result = run("show", location, other, "--format", "csv", "--by", "method,pool_name,kd")
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()[1:]
    assert len(rows) == 5 and any(r.startswith("random_real,-,off,") for r in rows)


def _evaluate_rows(directory) -> str:
    """Two rows of a random_real set as `raydd evaluate --out` writes them (test acc 20 %, 22 %)."""
    from raydd.results import write_rows
    from test_results_support import make_row

    write_rows([make_row(sweep="raydd-evaluate", trial_key="mine", method="random_real", pool_name="-", pool={},
                         pool_main_weight=None, iterations=0, eval_seed=s, test_acc=0.2 + s / 50)
                for s in (0, 1)], str(directory))
    return str(directory)


def test_query_reads_several_locations_as_one(location, tmp_path):
    other = _evaluate_rows(tmp_path / "evaluate-rows")
    result = run("query", location, other, location, "--columns", "method,test_acc", "--out", str(tmp_path / "all.csv"))
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "all.csv")
    assert len(rows) == 16 + 2  # the location named twice is read once
    assert sorted(rows.loc[rows["method"] == "random_real", "test_acc"].round(6)) == [0.2, 0.22]

    kept = run("query", location, other, "--where", "method == 'random_real'", "--columns", "trial_key,eval_seed")
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.split() == ["trial_key", "eval_seed", "mine", "0", "mine", "1"]


def test_query_names_each_location_when_nothing_matches_or_one_is_missing(location, tmp_path):
    other = _evaluate_rows(tmp_path / "evaluate-rows")
    result = run("query", location, other, "--where", "ipc == 99")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == f'Error: no result rows match --where "ipc == 99" (18 rows read from {location}, {other})'
    missing = run("query", location, str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and missing.stdout == ""
    assert len(missing.stderr.splitlines()) == 1 and str(tmp_path / "nowhere") in missing.stderr
