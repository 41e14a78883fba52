"""The one vocabulary of KD: off/on typed and printed by every results command; the rows keep booleans."""

import csv
import io
import json

import pytest

from raydd.kd_words import kd_mode, kd_word, shown, with_kd_words
from raydd.results import parse_baseline, query, render, results_table
from raydd.results.where import FilterError, where
from test_results_support import POOL_SINGLE, location, run  # noqa: F401 - location is a fixture


@pytest.mark.parametrize("word, value", [("off", False), ("on", True), ("False", False), ("TRUE", True),
                                         (True, True), (False, False)])
def test_a_kd_word_maps_both_ways(word, value):
    assert kd_mode(word) is value
    assert kd_word(value) == ("on" if value else "off")
    assert kd_mode(kd_word(value)) is value


@pytest.mark.parametrize("bad", ["maybe", "no", "1", 1, None])
def test_anything_else_is_not_a_kd_mode(bad):
    with pytest.raises(ValueError, match="off or on"):
        kd_mode(bad)


def test_only_the_kd_column_is_shown_as_a_word(results_sample):
    assert shown("kd", True) == "on" and shown("kd", False) == "off" and shown("ipc", True) is True
    printed = with_kd_words(results_sample)
    assert set(printed["kd"]) == {"off", "on"} and results_sample["kd"].dtype == bool  # the rows keep booleans


@pytest.mark.parametrize("word, same_as", [
    ("kd == 'on'", "kd"), ("kd == 'off'", "not kd"), ("'on' == kd", "kd"), ("kd != 'on'", "not kd"),
    ("kd == True", "kd"), ("kd == 'False'", "not kd"), ("kd in ['on']", "kd"), ("kd not in ('on',)", "not kd"),
    ("kd == 'on' and student == 'MLP'", "kd and student == 'MLP'"),
])
def test_where_reads_kd_words(results_sample, word, same_as):
    assert where(results_sample, word).equals(where(results_sample, same_as))
    assert 0 < where(results_sample, word).sum() < len(results_sample)


def test_where_refuses_a_word_kd_does_not_take(results_sample):
    with pytest.raises(FilterError, match=r"kd is 'off' or 'on' .*not 'maybe'"):
        where(results_sample, "kd == 'maybe'")
    with pytest.raises(FilterError, match="not 'yes'"):
        where(results_sample, "kd in ['on', 'yes']")


def test_other_columns_keep_their_strings(results_sample):
    assert where(results_sample, "student == 'on'").sum() == 0  # a string column is not read as a KD word


@pytest.mark.parametrize("kd", ["off", "false", "False", "OFF"])
def test_a_baseline_takes_either_word(results_sample, kd):
    table = results_table(results_sample, baseline=parse_baseline(f"pool_name={POOL_SINGLE};kd={kd}"))
    assert [table.settings[row]["kd"] for row in table.baseline] == [False]


def test_a_baseline_kd_of_another_word_is_refused_before_any_rows():
    with pytest.raises(ValueError, match="baseline kd='yes': kd is off or on"):
        parse_baseline("pool_name=ConvNet=1.0;kd=yes")


def test_show_labels_rows_with_the_words_in_every_format(results_sample):
    table = results_table(results_sample, baseline=parse_baseline(f"pool_name={POOL_SINGLE};kd=off"))
    text = render(table, "table").splitlines()
    assert [line.split()[1] for line in text[2:6]] == ["off", "on", "off", "on"]
    assert "off (baseline)" in text[4]
    assert {row["setting"]["kd"] for row in json.loads(render(table, "json"))["rows"]} == {"off", "on"}
    assert [row["kd"] for row in csv.DictReader(io.StringIO(render(table, "csv")))] == ["off", "on", "off", "on"]
    assert "True" not in render(table, "markdown") and "False" not in render(table, "latex").split("\n", 1)[1]


def test_the_cli_speaks_the_words(location):
    shown_table = run("show", location, "--where", "kd == 'on'", "--by", "pool_name,kd",
                      "--vs-baseline", f"pool_name={POOL_SINGLE};kd=on")
    assert shown_table.exit_code == 0, shown_table.output
    assert "on (baseline)" in shown_table.output and " off" not in shown_table.output
    queried = run("query", location, "--where", "kd == 'off' and eval_seed == 0", "--columns", "pool_name,kd")
    assert queried.exit_code == 0, queried.output
    assert [line.split()[-1] for line in queried.output.splitlines()] == ["kd", "off", "off", "off", "off"]


def test_query_export_keeps_booleans(location, tmp_path):
    import pandas as pd

    out = tmp_path / "rows.parquet"
    result = run("query", location, "--where", "kd == True", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["kd"].dtype == bool and pd.read_parquet(out)["kd"].all()


def test_a_bad_kd_word_on_the_command_line_is_one_line(location):
    for args in (("show", location, "--vs-baseline", "kd=maybe"), ("query", location, "--where", "kd == 'maybe'")):
        result = run(*args)
        assert result.exit_code == 1 and result.output.count("\n") == 1 and "off" in result.output, result.output

