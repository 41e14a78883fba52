"""`raydd sweep status|stop|resume|best SWEEP`: SWEEP is a sweep's name or the file that started it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from s3_support import moto_bucket
from sweep_support import tiny_sweep, write_sweep

from raydd import storage
from raydd.cli.main import cli
from raydd.spec import load_spec
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import store_spec

BUCKET = "raydd-target"


def sweep_cli(*args):
    return CliRunner().invoke(cli, ["sweep", *args])


def stored_sweep(directory, name: str, storage_root: str, written_to: str | None = None):
    """A sweep file naming `storage_root`, its copy stored under `written_to` (default: that root)."""
    path = write_sweep(directory, tiny_sweep(name, storage_root))
    spec = load_spec(path, storage=written_to, data="skip")
    store_spec(spec, SweepPaths.of(spec.storage, spec.name))
    return str(path)


def test_status_and_stop_of_a_file_find_the_storage_it_names(tmp_path):
    root = str(tmp_path / "elsewhere")
    path = stored_sweep(tmp_path, "named", root)
    result = sweep_cli("status", path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"sweep named at {root}/named"
    assert sweep_cli("stop", path).exit_code == 0
    assert (tmp_path / "elsewhere" / "named" / "STOP").is_file()


def test_an_explicit_storage_wins_over_the_files(tmp_path):
    path = stored_sweep(tmp_path, "moved", str(tmp_path / "old"), written_to=str(tmp_path / "new"))
    assert "no sweep 'moved' under" in sweep_cli("status", path).output  # the file's root holds nothing
    result = sweep_cli("status", path, "--storage", str(tmp_path / "new"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"sweep moved at {tmp_path}/new/moved"


def test_a_name_is_looked_for_under_the_default_storage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stored_sweep(tmp_path, "plain", "./runs")
    result = sweep_cli("status", "plain")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"sweep plain at {tmp_path}/runs/plain"


def test_resume_and_best_of_a_file_look_under_its_storage_before_ray(tmp_path, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))
    root = tmp_path / "kept"
    never_run = write_sweep(tmp_path, tiny_sweep("never", str(root)))
    result = sweep_cli("resume", str(never_run))
    assert result.exit_code == 1 and f"no sweep 'never' under {root}" in result.output, result.output
    grid = stored_sweep(tmp_path, "grid", str(root))
    result = sweep_cli("best", grid)
    assert result.exit_code == 1 and "has no search section" in result.output
    assert f"{root}/grid/results" in result.output


@pytest.mark.parametrize("target, why", [
    ("nowhere/mine.yaml", "nowhere/mine.yaml is not a sweep file (no such file), and sweep name"),
    ("sweeps/", "sweeps/ is not a sweep file (is a directory), and sweep name"),
])
def test_a_target_that_is_neither_file_nor_name_is_one_line(tmp_path, monkeypatch, target, why):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweeps").mkdir()
    for command in ("status", "stop", "resume", "best"):
        result = sweep_cli(command, target)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert why in result.output and "is not filesystem-safe" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweeps"]  # nothing created


@pytest.mark.parametrize("text, problem", [
    ("name: broken\nstorage: [unclosed\n", "invalid YAML"),
    ("storage: ./runs\ndataset: digits\n", "name: missing (required)"),
    ("name: ../up\n", "name: '../up' is not filesystem-safe"),
    ("name: ok\nstorage: ftp://host/x\n", "storage: unsupported storage scheme 'ftp'"),
    ("- just\n- a list\n", "must be a mapping of settings"),
])
def test_a_file_that_does_not_name_a_sweep_is_one_line(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = sweep_cli("status", str(path))
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: cannot find the sweep of {path}: ") and problem in result.output


@pytest.fixture
def s3_bucket(monkeypatch):
    with moto_bucket(monkeypatch, BUCKET):
        yield f"s3://{BUCKET}/sweeps"


def test_a_file_naming_s3_is_found_there_without_storage(tmp_path, monkeypatch, s3_bucket):
    monkeypatch.chdir(tmp_path)
    path = stored_sweep(tmp_path, "ons3", s3_bucket)
    result = sweep_cli("status", path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"sweep ons3 at {s3_bucket}/ons3"
    assert sweep_cli("stop", path).exit_code == 0
    assert storage.exists(f"{s3_bucket}/ons3/STOP")
    assert not (tmp_path / "runs").exists()
