"""A --where that keeps no row says so in one line, naming the filter and what was read; no filter
keeps every row."""

import pytest

from test_results_support import location, run  # noqa: F401 - location is a fixture

SAMPLE_ROWS = 16  # 2 pools x KD off/on x 2 students x 2 seeds


@pytest.mark.parametrize("command, out", [("show", None), ("query", None), ("query", "rows.csv"),
                                          ("plot", "bars.png"), ("images", "sheet.png")])
def test_a_filter_matching_nothing_is_one_line_naming_it(location, tmp_path, command, out):
    args = [command, location, "--where", "ipc == 99 and kd == 'on'"]
    if out:
        args += ["--out", str(tmp_path / out)]
    result = run(*args)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"Error: no result rows match --where \"ipc == 99 and kd == 'on'\" "
                             f"({SAMPLE_ROWS} rows read from {location})\n")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_several_locations_are_named_each_once(location, tmp_path):
    result = run("show", location, location, "--where", "student == 'LeNet'")
    assert result.exit_code == 1
    assert f"({SAMPLE_ROWS} rows read from {location})" in result.stderr  # the same rows, counted once


def test_query_without_where_prints_every_row(location):
    result = run("query", location, "--columns", "student,kd,eval_seed")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["student", "kd", "eval_seed"] and len(lines) == 1 + SAMPLE_ROWS


def test_plot_draws_only_the_rows_the_filter_keeps(location, tmp_path):
    from raydd.results import bar_figure, load, query

    result = run("plot", location, "--where", "kd == 'off'", "--out", str(tmp_path / "bars.png"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "bars.png").stat().st_size > 0
    legend = [t.get_text() for t in bar_figure(query(load(location), "kd == 'off'")).legends[0].get_texts()]
    assert legend == ["ConvNet=0.9,+1", "ConvNet=1.0"]  # kd no longer varies once filtered
