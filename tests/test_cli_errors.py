"""Every user-reachable failure is one line on stderr and a non-zero exit; a bug's traceback is
kept in a file the line names, never shown raw and never lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import raydd.core.evaluate.protocol as protocol
from raydd.cli.main import cli
from raydd.core.artifact import save_synset
from test_artifact import make_synset
from test_results_support import write_sample


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(protocol, "train_group", lambda *a, **k: pytest.fail("training started"))


def one_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and result.stdout == "", result.output
    assert "Traceback" not in result.output
    return result.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda meta: meta.update(ipc="ten"), "'ipc' must be a positive integer, got 'ten'"),
    (lambda meta: meta.pop("method"), "required key 'method' is missing"),
    (lambda meta: meta["dataset"].update(channels="one"), "dataset.channels must be a positive integer"),
    (lambda meta: meta.update(dataset=[1, 2]), "'dataset' must be an object"),
])
def test_a_hand_edited_meta_json_is_one_line(tmp_path, no_training, edit, message):
    directory = save_synset(make_synset(), tmp_path / "set")
    meta = json.loads((directory / "meta.json").read_text())
    edit(meta)
    (directory / "meta.json").write_text(json.dumps(meta))
    assert message in one_line(CliRunner().invoke(cli, ["evaluate", str(directory), "--students", "MLP"]))


def test_a_random_real_baseline_larger_than_a_class_is_refused_before_training(no_training):
    result = CliRunner().invoke(cli, ["evaluate", "--random-real", "100000", "--students", "MLP", "--epochs", "1"])
    assert "--random-real 100000 is more than the 125 training images of digits's smallest class" in one_line(result, code=2)


@pytest.mark.parametrize("args", [
    ["results", "query", "LOC", "--where", "kd", "--out", "/proc/raydd/rows.csv"],
    ["results", "plot", "LOC", "--out", "/proc/raydd/plot.png"],
    ["results", "query", "LOC", "--where", "kd", "--out", "A-FILE/rows.csv"],
])
def test_unwritable_outputs_are_refused_before_reading_anything(tmp_path, args):
    write_sample(tmp_path / "results")
    (tmp_path / "a-file").write_text("")
    args = [str(tmp_path / "results") if a == "LOC" else a.replace("A-FILE", str(tmp_path / "a-file"))
            for a in args]
    assert "cannot write" in one_line(CliRunner().invoke(cli, args), code=2)


def test_a_usage_error_is_one_line_naming_the_help(tmp_path):
    result = CliRunner().invoke(cli, ["distill", "--ipc", "many", "--out", str(tmp_path / "x")])
    line = one_line(result, code=2)
    assert "Invalid value for '--ipc'" in line and "--help" in line


def test_a_bug_is_one_line_and_its_traceback_is_kept(tmp_path, monkeypatch):
    import raydd.results as results

    def broken(*args, **kwargs):
        raise TypeError("an unexpected bug")

    write_sample(tmp_path)
    monkeypatch.setattr(results, "results_table", broken)
    line = one_line(CliRunner().invoke(cli, ["results", "show", str(tmp_path)]))
    assert "internal error, TypeError: an unexpected bug" in line and "please report it" in line
    saved = Path(re.search(r"full traceback in (\S+);", line).group(1))
    text = saved.read_text()
    assert "Traceback" in text and "in broken" in text
    saved.unlink()


def test_the_installed_command_prints_no_traceback(tmp_path):
    """The real entry point, not the test runner: stderr is exactly one line."""
    import subprocess
    import sys

    raydd = str(Path(sys.executable).with_name("raydd"))
    run = subprocess.run([raydd, "results", "show", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == f"Error: results location '{tmp_path / 'nowhere'}' does not exist\n"
