"""Row filters are data, never code: hostile strings do nothing and get one clear error."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.results import query
from raydd.results.where import FilterError, where
from test_results_support import POOL_SINGLE, write_sample


@pytest.fixture(scope="module")
def location(tmp_path_factory):
    path = tmp_path_factory.mktemp("results")
    write_sample(path)
    return str(path)


def hostile(marker) -> list[str]:
    """Strings that would create `marker` if any part of them ran."""
    shell = f"'touch {marker}'"
    return [
        f"@pd.io.common.os.system({shell})",  # pandas.query resolved this, attributes included
        f"@pd.io.common.os.system({shell}) == 0 or kd",
        f"__import__('os').system({shell})",
        f"kd.__class__.__init__.__globals__['os'].system({shell})",
        f"open('{marker}', 'w')",
        f"(lambda: __import__('os').system({shell}))()",
        f"f\"{{__import__('os').system({shell})}}\"",
        f"(x := __import__('os').system({shell}))",
        f"[__import__('os').system({shell}) for _ in [1]]",
        f"{{__import__('os').system({shell})}}",
        f"config_json[__import__('os').system({shell})]",
        f"kd if __import__('os').system({shell}) else kd",
        f"student in [__import__('os').system({shell})]",
        f"__builtins__ == {shell}",
        "__import__ == 'os'",
        f"kd and student.str.contains({shell})",
        f"`kd` or __import__('os').system({shell})",
        "kd ** 99999999999",
        "'x' * 99999999999 == student",
    ]


def test_hostile_filters_are_refused_and_run_nothing(results_sample, tmp_path):
    marker = tmp_path / "pwned"
    strings = hostile(marker)
    assert len(strings) >= 10
    for text in strings:
        with pytest.raises(FilterError, match="bad filter"):
            query(results_sample, text)
        assert not marker.exists(), f"{text!r} ran code"


def test_hostile_filter_on_the_command_line_is_one_line_and_runs_nothing(location, tmp_path):
    marker = tmp_path / "pwned"
    for text in hostile(marker)[:4]:
        result = CliRunner().invoke(cli, ["results", "query", location, "--where", text])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: bad filter") and result.output.count("\n") == 1
        assert "Traceback" not in result.output
        assert not marker.exists()


@pytest.mark.parametrize("text, token", [
    ("kd and and", "'and'"),
    ("@pd.x", "'@'"),
    ("kd.__class__", "attribute access"),
    ("len(student) > 3", "a call"),
    ("colour == 'red'", "'colour' is not a column"),
    ("student[0] == 'M'", "subscripting"),
    ("ipc ** 2 > 1", "Pow"),
    ("ipc", "not true/false"),
    ("ipc and kd", "'ipc' is not true/false"),
    ("student in ['MLP', ipc]", "not a literal"),
    ("student < 3", "cannot compare"),
    ("1 / 0 < ipc", "division by zero"),
    ("(" * 300 + "kd" + ")" * 300, "bad filter"),
    ("kd or " * 600 + "kd", "at most"),
])
def test_each_refusal_names_what_is_wrong(results_sample, text, token):
    with pytest.raises(FilterError, match="bad filter") as caught:
        where(results_sample, text)
    assert token in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [
    "kd and student == 'MLP'",
    f"pool_name == '{POOL_SINGLE}' and not kd",
    "1 <= eval_seed < 2 or student != 'MLP'",
    "student in ['MLP', 'LeNet'] and eval_seed not in (1,)",
    "test_acc * 100 > 40 and -ipc < 0",
    "(kd or eval_seed == 1) and test_acc % 0.1 >= 0",
    "kd == True and alpha >= 0.5",
])
def test_the_filter_language_selects_what_pandas_would(results_sample, text):
    expected = results_sample.query(text, engine="python")  # only for these benign, fixed strings
    assert where(results_sample, text).sum() == len(expected)
    assert query(results_sample, text).index.equals(expected.index)


def test_none_means_a_missing_value(results_sample):
    no_teacher = where(results_sample, "teacher == None")
    assert no_teacher.equals(~results_sample["kd"])
    assert where(results_sample, "None != teacher").equals(results_sample["kd"])


def test_a_filter_over_no_column_keeps_every_row_or_none():
    df = pd.DataFrame({"ipc": [1, 10]})
    assert where(df, "True").all() and not where(df, "not True").any()
