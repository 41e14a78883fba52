"""Summaries and the paper-style table, checked against the hand-made sample's known numbers."""

import csv
import io
import json

import pandas as pd
import pytest

from raydd.results import (default_by, load, parse_baseline, query, render, results_table, summarise,
                           write_rows)
from test_results_support import POOL_MIXED, POOL_SINGLE, SPREAD_PCT, make_row


def test_summarise_mean_std_n(results_sample):
    stats = summarise(results_sample, ["pool_name", "kd"]).set_index(["pool_name", "kd", "student"])
    mlp_kd = stats.loc[(POOL_SINGLE, True, "MLP")]
    assert mlp_kd["test_acc_mean"] == pytest.approx(0.32)
    assert mlp_kd["test_acc_std"] == pytest.approx(SPREAD_PCT / 100)
    assert mlp_kd["test_acc_n"] == 2
    assert mlp_kd["val_acc_mean"] == pytest.approx(0.37)
    assert len(stats) == 8


def test_summarise_single_row_has_zero_std():
    stats = summarise(pd.DataFrame([make_row()]), ["kd"])
    assert stats.loc[0, "test_acc_n"] == 1 and stats.loc[0, "test_acc_std"] == 0.0


def test_summarise_uses_the_one_spread_convention_of_raydd_evaluate():
    from raydd.stats import mean_std

    accs = [0.31, 0.35, 0.42]
    rows = pd.DataFrame([make_row(eval_seed=i, test_acc=a) for i, a in enumerate(accs)])
    stats = summarise(rows, ["kd"])
    assert stats.loc[0, "test_acc_std"] == pytest.approx(mean_std(accs).std)
    assert stats.loc[0, "test_acc_std"] == pytest.approx(float(pd.Series(accs).std(ddof=0)))
    assert stats.loc[0, "test_acc_std"] != pytest.approx(float(pd.Series(accs).std(ddof=1)))


def test_every_table_footer_states_the_spread_convention(results_sample):
    from raydd.stats import SPREAD_NOTE

    table = results_table(results_sample)
    for fmt in ("table", "markdown"):
        assert render(table, fmt).rstrip().splitlines()[-1].count(SPREAD_NOTE) == 1
    assert json.loads(render(table, "json"))["spread"] == SPREAD_NOTE


def test_summarise_rejects_unknown_key(results_sample):
    with pytest.raises(ValueError, match="unknown group-by column.*colour"):
        summarise(results_sample, ["colour"])


def test_default_by_is_the_varying_axes(results_sample):
    assert default_by(results_sample) == ["pool_name", "kd"]


def test_table_numbers_order_best_and_mean(results_sample):
    table = results_table(results_sample)
    assert table.students == ("ConvNet", "MLP")  # canonical order, though MLP came first
    assert table.settings == [{"pool_name": POOL_MIXED, "kd": False}, {"pool_name": POOL_MIXED, "kd": True},
                              {"pool_name": POOL_SINGLE, "kd": False}, {"pool_name": POOL_SINGLE, "kd": True}]
    assert list(table.mean["MLP"]) == pytest.approx([34, 36, 30, 32])
    assert list(table.std["ConvNet"]) == pytest.approx([SPREAD_PCT] * 4)
    assert list(table.row_mean) == pytest.approx([43, 44, 40, 41])
    # two seeds a cell: too few for a test against the runner-up, so no cell is marked best
    assert table.best("ConvNet") == table.best("MLP") == table.best("mean") == set()


def test_text_rendering_aligns_and_marks_nothing_on_two_seeds(results_sample):
    text = render(results_table(results_sample), "table")
    lines = text.splitlines()
    assert lines[0].split() == ["pool_name", "kd", "ConvNet", "MLP", "mean"]
    assert lines[3].split()[:2] == [POOL_MIXED, "on"]
    assert "52.00 ± 1.00 (1×2)" in lines[3] and "36.00 ± 1.00 (1×2)" in lines[3] and lines[3].endswith("44.00")
    assert not any("*" in line for line in lines[2:6])
    assert "marked only where it leads the runner-up at p < 0.05 (Welch over the sets' means" in lines[-1]
    plus_minus = {tuple(i for i, ch in enumerate(line) if ch == "±") for line in lines[2:6]}
    assert len(plus_minus) == 1  # every row's numbers sit in the same columns


def seeded_rows(cells: dict, spread: float) -> list[dict]:
    """Three seeds per (ipc, pool) of MLP, at mean acc -/0/+ `spread`."""
    return [make_row(ipc=ipc, pool_name=pool, pool={pool.split("=")[0]: 1.0}, student="MLP",
                     eval_seed=seed, test_acc=acc + (seed - 1) * spread)
            for (ipc, pool), acc in cells.items() for seed in range(3)]


def test_best_is_marked_only_where_it_leads_the_runner_up_beyond_noise(tmp_path):
    cells = {(1, "A=1.0"): 0.30, (1, "B=1.0"): 0.36, (1, "C=1.0"): 0.20}
    write_rows(seeded_rows(cells, spread=0.005), str(tmp_path / "clear"))  # 6 points ahead, spread 0.5
    write_rows(seeded_rows(cells, spread=0.05), str(tmp_path / "noisy"))  # the same means, spread 5
    clear = results_table(load(str(tmp_path / "clear")), by=["pool_name"])
    noisy = results_table(load(str(tmp_path / "noisy")), by=["pool_name"])
    assert clear.best("MLP") == {1} and noisy.best("MLP") == set()
    assert clear.best("mean") == set()  # the mean over students has no spread over seeds: never marked
    text = render(clear, "table").splitlines()
    assert "36.00 ± 0.41 (1×3) *" in text[3] and "*" not in text[2] + text[4]
    assert "| B=1.0 | **36.00 ± 0.41 (1×3)** |" in render(clear, "markdown")
    assert "**" not in render(noisy, "markdown")


def test_csv_and_json_carry_the_numbers(results_sample):
    table = results_table(results_sample)
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert rows[1]["MLP mean"] == "36.0" and rows[1]["MLP best"] == "False" and rows[1]["mean"] == "44.0"
    doc = json.loads(render(table, "json"))
    assert doc["unit"] == "percent" and doc["students"] == ["ConvNet", "MLP"]
    assert doc["rows"][2]["setting"] == {"pool_name": POOL_SINGLE, "kd": "off"}
    expected = {"mean": 50.0, "std": round(SPREAD_PCT, 4), "n": 2, "sets": 1, "seeds": "2", "seeds_min": 2, "seeds_max": 2,
                "best": False}
    assert doc["rows"][2]["cells"]["ConvNet"] == expected


def test_unknown_format_is_an_error(results_sample):
    with pytest.raises(ValueError, match="unknown table format 'html'"):
        render(results_table(results_sample), "html")


def test_baseline_differences(results_sample):
    table = results_table(results_sample, baseline=parse_baseline(f"pool_name={POOL_SINGLE};kd=false"))
    assert table.baseline == (2,)
    assert list(table.diff["MLP"]) == pytest.approx([4, 6, 0, 2])
    assert list(table.mean_diff) == pytest.approx([3, 4, 0, 1])
    text = render(table, "table").splitlines()
    assert "[ +6.00]" in text[3] and "(baseline)" in text[4] and "[" not in text[4]
    assert json.loads(render(table, "json"))["rows"][1]["cells"]["MLP"]["diff"] == pytest.approx(6.0)


def test_parse_baseline_keeps_equals_in_values():
    assert parse_baseline(["pool_name=ConvNet=0.9,ConvNetW64=0.1", "kd=True"]) == {
        "pool_name": "ConvNet=0.9,ConvNetW64=0.1", "kd": "True"}


@pytest.mark.parametrize("spec, message", [
    ("kd", "not key=value"), ("", "empty baseline"), ("kd=1;kd=0", "given twice"),
])
def test_parse_baseline_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_baseline(spec)


@pytest.mark.parametrize("baseline, message", [
    ({"pool_name": "ConvNet=0.5", "kd": "false"}, "matches no row"),
    ({"ipc": "1"}, "not row keys of the table"),
])
def test_baseline_must_name_exactly_one_row(results_sample, baseline, message):
    with pytest.raises(ValueError, match=message):
        results_table(results_sample, baseline=baseline)


def test_baseline_is_taken_within_each_group_of_the_other_keys(tmp_path):
    rows = [make_row(ipc=ipc, pool_name=pool, pool={pool.split("=")[0]: 1.0}, student="MLP", test_acc=acc)
            for ipc, pool, acc in [(1, "A=1.0", 0.30), (1, "B=1.0", 0.35), (10, "A=1.0", 0.50), (10, "B=1.0", 0.58)]]
    write_rows(rows, str(tmp_path))
    table = results_table(load(str(tmp_path)), by=["ipc", "pool_name"], baseline={"pool_name": "A=1.0"})
    assert table.baseline == (0, 2)
    assert list(table.diff["MLP"]) == pytest.approx([0, 5, 0, 8])


def test_best_is_marked_within_each_ipc_block(tmp_path):
    # ipc 10 beats ipc 1 everywhere; the ipc-1 block still gets its own best row (B at ipc 1).
    cells = {(1, "A=1.0"): 0.30, (1, "B=1.0"): 0.35, (10, "A=1.0"): 0.58, (10, "B=1.0"): 0.50}
    write_rows(seeded_rows(cells, spread=0.005), str(tmp_path))
    table = results_table(load(str(tmp_path)), by=["ipc", "pool_name"])
    assert table.blocks() == [[0, 1], [2, 3]]
    assert table.best("MLP") == {1, 2}
    assert "* best per column within each ipc" in render(table, "table")
    assert results_table(load(str(tmp_path)), by=["pool_name"]).best("MLP") == set()  # one block: pools tie-ish


def test_baseline_missing_from_a_group_is_an_error(tmp_path):
    rows = [make_row(ipc=ipc, pool_name=pool, pool={pool.split("=")[0]: 1.0}, student="MLP")
            for ipc, pool in [(1, "A=1.0"), (1, "B=1.0"), (10, "B=1.0")]]
    write_rows(rows, str(tmp_path))
    with pytest.raises(ValueError, match="has no row for ipc=10"):
        results_table(load(str(tmp_path)), by=["ipc", "pool_name"], baseline={"pool_name": "A=1.0"})


def test_mean_covers_only_students_in_every_row(tmp_path):
    rows = [make_row(student="MLP", test_acc=0.3), make_row(student="LeNet", test_acc=0.2),
            make_row(ipc=10, student="MLP", test_acc=0.5)]
    write_rows(rows, str(tmp_path))
    table = results_table(load(str(tmp_path)))
    assert table.by == ("ipc",) and table.mean_students == ("MLP",)
    assert list(table.row_mean) == pytest.approx([30, 50])
    assert "-" in render(table, "table").splitlines()[3]  # ipc 10 has no LeNet cell


def test_single_setting_table_has_one_row():
    table = results_table(pd.DataFrame([make_row(), make_row(eval_seed=1, test_acc=0.32)]))
    assert table.by == () and len(table.mean) == 1 and table.mean["MLP"].iloc[0] == pytest.approx(31)
    assert render(table, "table").splitlines()[2].startswith("all")


def test_table_rejects_bad_metric_and_student_key(results_sample):
    with pytest.raises(ValueError, match="unknown metric"):
        results_table(results_sample, metric="loss")
    with pytest.raises(ValueError, match="'student' is the table's columns"):
        results_table(results_sample, by=["student"])


def test_query_filters_and_checks(results_sample):
    rows = query(results_sample, "kd and student == 'MLP'", ["pool_name", "test_acc"])
    assert list(rows.columns) == ["pool_name", "test_acc"] and len(rows) == 4
    with pytest.raises(ValueError, match="bad filter"):
        query(results_sample, "kd and and")
    with pytest.raises(ValueError, match="bad filter.*colour"):
        query(results_sample, "colour == 'red'")
    with pytest.raises(ValueError, match="unknown column"):
        query(results_sample, "kd", ["colour"])


def test_teacher_axis_with_missing_teacher_and_baseline_none():
    """Two teachers make `teacher` a row key; the no-KD row has none, shown as '-' and named 'none'."""
    rows = [make_row(eval_seed=e, test_acc=0.30) for e in range(2)]
    rows += [make_row(kd=True, teacher=t, alpha=0.5, temperature=4.0, eval_seed=e, test_acc=acc)
             for t, acc in (("ConvNet", 0.35), ("VGG11", 0.37)) for e in range(2)]
    table = results_table(pd.DataFrame(rows), baseline=parse_baseline("teacher=none;kd=off"))
    assert table.by == ("teacher", "kd") and table.settings[0] == {"teacher": None, "kd": False}
    assert list(table.diff["MLP"]) == pytest.approx([0, 5, 7])
    assert render(table, "table").splitlines()[2].startswith("-        off (baseline)")
    assert json.loads(render(table, "json"))["rows"][0]["setting"]["teacher"] is None


def test_students_follow_the_papers_columns_with_variants_beside_their_family():
    from raydd.results.table import order_students

    names = ["Custom", "LeNet", "ConvNetW32", "ResNet18BN", "MLP", "ConvNet", "VGG11"]
    assert order_students(names) == ["ConvNet", "ConvNetW32", "MLP", "LeNet", "VGG11", "ResNet18BN", "Custom"]


def _seed_rows(pool: str, accs: list[float]) -> list[dict]:
    return [make_row(pool_name=pool, pool={pool.split("=")[0]: 1.0}, student="MLP", eval_seed=i, test_acc=a)
            for i, a in enumerate(accs)]


def test_a_difference_beyond_the_spread_is_marked_significant_by_welchs_test(tmp_path):
    from scipy.stats import ttest_ind

    base, far, near = [0.30, 0.31, 0.29, 0.30], [0.40, 0.41, 0.39, 0.42], [0.30, 0.33, 0.28, 0.31]
    write_rows(_seed_rows("A=1.0", base) + _seed_rows("B=1.0", far) + _seed_rows("C=1.0", near), str(tmp_path))
    table = results_table(load(str(tmp_path)), by=["pool_name"], baseline={"pool_name": "A=1.0"})
    expected = [ttest_ind([100 * a for a in accs], [100 * a for a in base], equal_var=False).pvalue
                for accs in (far, near)]
    assert list(table.p_value["MLP"].iloc[1:]) == pytest.approx(expected)
    assert [table.significant(r, "MLP") for r in range(3)] == [False, True, False]
    text = render(table, "table")
    assert "[+10.50]‡" in text and "[ +0.50] " in text and "Welch's two-sided t-test" in text  # one set a side
    cells = json.loads(render(table, "json"))["rows"][1]["cells"]["MLP"]
    assert cells["p"] == pytest.approx(round(expected[0], 4))


def test_two_seeds_are_too_few_for_a_significance_mark(tmp_path):
    write_rows(_seed_rows("A=1.0", [0.30, 0.31]) + _seed_rows("B=1.0", [0.60, 0.61]), str(tmp_path))
    table = results_table(load(str(tmp_path)), by=["pool_name"], baseline={"pool_name": "A=1.0"})
    assert table.p_value["MLP"].isna().all() and not table.significant(1, "MLP")
    assert not {"†", "‡"} & set(render(table, "table").split("\n\n")[0])


def test_latex_is_a_booktabs_tabular_with_escaped_labels(tmp_path):
    write_rows(_seed_rows("A_x=1.0", [0.30, 0.31, 0.29]) + _seed_rows("B=1.0", [0.40, 0.41, 0.39]), str(tmp_path))
    table = results_table(load(str(tmp_path)), by=["pool_name"], baseline={"pool_name": "A_x=1.0"})
    latex = render(table, "latex")
    assert latex.startswith("% test_acc in %") and "\\toprule" in latex and latex.rstrip().endswith("\\end{tabular}")
    assert "pool\\_name & MLP & mean \\\\" in latex and "A\\_x=1.0 (baseline)" in latex
    assert "\\textbf{40.00 $\\pm$ 0.82 {\\scriptsize($1{\\times}3$)}} {\\scriptsize(+10.00$^\\ddagger$)}" in latex
