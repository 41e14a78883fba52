"""`raydd distill --out`: only raydd's own output is ever replaced, and every --out problem is
reported before the first iteration."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import raydd.core.distill as distill_module
from raydd.cli.main import cli
from raydd.core.artifact import ArtifactError, check_target, load_synset, save_synset
from test_artifact import make_synset

FAST = ["--dataset", "digits", "--ipc", "1", "--pool", "ConvNetW32", "--batch-real", "8",
        "--device", "cpu", "--iterations", "1"]


def invoke(*args):
    return CliRunner().invoke(cli, ["distill", *FAST, *map(str, args)])


@pytest.fixture
def no_distillation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the distillation started before --out was checked")

    monkeypatch.setattr(distill_module, "distill", refuse)


def files_of(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_a_directory_of_the_users_files_is_left_alone(tmp_path, no_distillation):
    out = tmp_path / "thesis"
    (out / "chapter").mkdir(parents=True)
    (out / "notes.txt").write_text("three years of work")
    (out / "chapter" / "one.tex").write_text("\\section{One}")
    before = files_of(out)
    result = invoke("--out", out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and "holds files that are not a synthetic set's" in result.output
    assert "chapter" in result.output and "notes.txt" in result.output
    assert files_of(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no checkpoint, no temp


def test_a_directory_that_only_looks_like_an_artifact_is_left_alone(tmp_path, no_distillation):
    out = tmp_path / "lookalike"
    out.mkdir()
    (out / "meta.json").write_text('{"format": "my-own-format"}')
    result = invoke("--out", out)
    assert result.exit_code == 2 and "format 'my-own-format'" in result.output
    assert (out / "meta.json").read_text() == '{"format": "my-own-format"}'


@pytest.mark.parametrize("where, message", [
    ("a-file/out", "is a file, not a directory"),
    ("a-file", "is a file"),
    ("/proc/raydd-test/out", "is not writable"),
])
def test_out_problems_are_reported_before_distilling(tmp_path, no_distillation, where, message):
    (tmp_path / "a-file").write_text("a file")
    out = where if where.startswith("/") else tmp_path / where
    result = invoke("--out", out)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output and result.output.count("\n") == 1
    assert (tmp_path / "a-file").read_text() == "a file"


def test_an_earlier_artifact_and_an_empty_directory_are_replaced(tmp_path):
    earlier = save_synset(make_synset(ipc=2), tmp_path / "earlier")
    (tmp_path / "empty").mkdir()
    for out in (earlier, tmp_path / "empty"):
        result = invoke("--out", out)
        assert result.exit_code == 0, result.output
        assert load_synset(out).ipc == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier", "empty"]


def test_saving_over_an_artifact_with_a_stray_file_is_refused(tmp_path):
    out = save_synset(make_synset(), tmp_path / "set")
    (out / "my-plot.png").write_bytes(b"not raydd's")
    with pytest.raises(ArtifactError, match="my-plot.png"):
        save_synset(make_synset(ipc=1), out)
    assert (out / "my-plot.png").read_bytes() == b"not raydd's" and load_synset(out).ipc == 2
    with pytest.raises(ArtifactError, match="my-plot.png"):
        check_target(out)


def test_the_finished_runs_checkpoint_directory_is_removed_only_when_empty(tmp_path):
    checkpoint = tmp_path / ".run.checkpoint"
    checkpoint.mkdir()
    (checkpoint / "mine.txt").write_text("kept")
    result = invoke("--out", tmp_path / "run")  # no checkpoint.pt in it: a fresh run, not a resumed one
    assert result.exit_code == 0, result.output
    assert (checkpoint / "mine.txt").read_text() == "kept" and not (checkpoint / "checkpoint.pt").exists()


def test_an_absurd_ipc_is_refused_against_the_dataset_before_allocating(tmp_path, no_distillation):
    result = invoke("--ipc", "100000000", "--out", tmp_path / "big")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "more than the 125 training images of digits's smallest class" in result.output
    assert not (tmp_path / "big").exists()


def test_kill_9_of_a_distillation_then_resume_gives_the_uninterrupted_images(tmp_path):
    """A real process killed with SIGKILL mid-run: --resume continues from its last checkpoint
    and ends with the images of a run that was never interrupted."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import torch

    args = [*FAST, "--iterations", "6", "--checkpoint-every", "1", "--progress-every", "1", "--method", "dc"]
    assert invoke(*args, "--out", tmp_path / "whole").exit_code == 0
    raydd = str(Path(sys.executable).with_name("raydd"))
    out = tmp_path / "killed"
    run = subprocess.Popen([raydd, "distill", *args, "--out", str(out)], stderr=subprocess.PIPE, text=True)
    lines = []
    for line in run.stderr:  # one progress line per iteration
        lines.append(line)
        if line.startswith("iter     3/6"):
            break
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL and not out.exists(), lines
    checkpoint = tmp_path / ".killed.checkpoint"
    assert any(checkpoint.iterdir())
    refused = invoke(*args, "--out", out)
    assert refused.exit_code == 2 and "pass --resume" in refused.output
    resumed = invoke(*args, "--out", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "iter     1/6" not in resumed.output and "iter     6/6" in resumed.output
    assert torch.equal(load_synset(out).images, load_synset(tmp_path / "whole").images)
    assert not checkpoint.exists()
