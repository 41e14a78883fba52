"""A finished sweep whose result files are damaged or copied: status says so, resume redoes the bad
job (the bad file kept in quarantine/), readers never count a row twice."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep

from raydd.cli.main import cli
from raydd.results.store import ResultsError, ResultsWarning
from raydd.spec import load_spec
from raydd.sweep.runner import load_results, resume_sweep, run_sweep, sweep_status

pytestmark = pytest.mark.usefixtures("ray_local")


def test_a_truncated_result_file_is_redone_on_resume_and_kept_as_evidence(tmp_path):
    runs = tmp_path / "runs"
    spec = load_spec(write_sweep(tmp_path, tiny_sweep("repair", str(runs), seeds=(0,))))
    assert run_sweep(spec, echo=lambda line: None).complete
    results = runs / "repair" / "results"
    before = load_results(str(results))
    assert sorted(row_keys(before)) == sorted(expected_keys(spec))

    # damage one job's file, and copy another under a name that is no job's
    damaged, other = sorted(results.iterdir())
    damaged.write_bytes(damaged.read_bytes()[:200])
    truncated = damaged.read_bytes()
    shutil.copy(other, results / "copied-by-hand.parquet")

    s = sweep_status("repair", str(runs))
    assert (s.evaluations_done, s.evaluations_pending) == (1, 1)
    assert list(s.bad_results) == [str(damaged)] and "not a readable Parquet file" in s.bad_results[str(damaged)]
    status = CliRunner().invoke(cli, ["sweep", "status", "repair", "--storage", str(runs)])
    assert f"bad result file {damaged}" in status.output
    with pytest.raises(ResultsError, match=damaged.name):
        load_results(str(results))
    shown = CliRunner().invoke(cli, ["results", "show", str(results)])
    assert shown.exit_code == 1 and damaged.name in shown.output and shown.output.count("\n") == 1

    said = []
    outcome = resume_sweep("repair", str(runs), echo=said.append)
    assert outcome.complete and outcome.evaluations["rows_written"] == 1
    assert any(f"{damaged} is not a readable Parquet file" in line and "moved to" in line for line in said)
    (kept,) = (runs / "repair" / "quarantine").iterdir()
    assert kept.name.startswith(damaged.name) and kept.read_bytes() == truncated  # evidence, unchanged

    with pytest.warns(ResultsWarning, match=r"1 row\(s\) appear in more than one file"):
        after = load_results(str(results))
    assert sorted(row_keys(after)) == sorted(expected_keys(spec))  # 0 lost, 0 duplicated
    assert sweep_status("repair", str(runs)).evaluations_pending == 0


@pytest.mark.parametrize("command", ["status", "stop", "resume"])
@pytest.mark.parametrize("name", ["..", "../elsewhere", "a/b", ".hidden"])
def test_sweep_names_on_the_command_line_are_checked_like_those_in_files(tmp_path, command, name):
    (tmp_path / "elsewhere").mkdir()
    result = CliRunner().invoke(cli, ["sweep", command, name, "--storage", str(tmp_path / "runs")])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "sweep name" in result.output and "is not filesystem-safe" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]


def test_resume_of_an_unknown_sweep_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["sweep", "resume", "ghost", "--storage", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "no sweep 'ghost'" in result.output


def test_a_stored_spec_that_no_longer_validates_names_the_stored_file(tmp_path, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))
    runs = tmp_path / "runs"
    stored = runs / "edited" / "spec.yaml"
    stored.parent.mkdir(parents=True)
    stored.write_text(write_sweep(tmp_path, tiny_sweep("edited", str(runs))).read_text()
                      .replace("ConvNetW32", "ConvNetW33"))
    for command in ("status", "resume"):
        result = CliRunner().invoke(cli, ["sweep", command, "edited", "--storage", str(runs)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"{stored}: ") and "unknown architecture 'ConvNetW33'" in result.output
        assert "/tmp/tmp" not in result.output
