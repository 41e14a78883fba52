"""Every torch file raydd reads (a foreign set, a distillation checkpoint, a sweep's KD teacher) is
loaded without running code; one that would run code is refused in raydd's words, which never
advise loading it with the unsafe loader, and torch's warnings that do are not passed on."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from click.testing import CliRunner

import raydd.core.torch_files as torch_files
from raydd.cli.main import cli
from raydd.core.datasets import DATASETS
from raydd.core.torch_files import RefusedTorchFile, UnreadableTorchFile, load_torch_file

INFO = DATASETS.get("digits").info
# torch's refusal names these: the unsafe loader and how to let the file's objects through
UNSAFE_ADVICE = ("weights_only", "trust", "allowlist", "safe_globals")


class Payload:
    """Unpickled, it would make the directory `path`: the proof that code from the file ran."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _refused_line(result, name: str) -> str:
    assert result.exit_code != 0, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert f"{name} is refused: it holds a reference to 'posix.mkdir', and loading that could run code" in result.stderr
    assert not any(word in result.output for word in UNSAFE_ADVICE), result.output
    assert "Warning" not in result.output
    return result.stderr


def test_a_set_whose_pickle_would_run_code_is_refused_without_advice_to_load_it_unsafely(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"image_syn": Payload(marker), "label_syn": torch.zeros(10)}, path)
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--dataset", "digits", "--students", "MLP",
                                      "--epochs", "1"])
    _refused_line(result, str(path))
    assert not marker.exists()


def test_a_checkpoint_whose_pickle_would_run_code_is_refused_the_same_way(tmp_path):
    marker = tmp_path / "ran"
    checkpoint = tmp_path / ".run.checkpoint" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    torch.save({"version": 1, "config": Payload(marker)}, checkpoint)
    result = CliRunner().invoke(cli, ["distill", "--ipc", "1", "--iterations", "2", "--pool", "ConvNetW32",
                                      "--batch-real", "8", "--out", str(tmp_path / "run"), "--resume"])
    _refused_line(result, f"checkpoint {checkpoint}")
    assert not marker.exists() and checkpoint.exists()  # refused, not removed


def test_a_teacher_file_whose_pickle_would_run_code_is_refused_the_same_way(tmp_path):
    from raydd.sweep.artifacts import load_teacher

    marker = tmp_path / "ran"
    path = tmp_path / "teacher.pt"
    torch.save({"weight": Payload(marker)}, path)
    with pytest.raises(RefusedTorchFile) as caught:
        load_teacher(str(path), "MLP", INFO, "cpu")
    assert str(caught.value).startswith(f"teacher {path} is refused: it holds a reference to 'posix.mkdir'")
    assert not any(word in str(caught.value) for word in UNSAFE_ADVICE) and not marker.exists()


def test_torch_warnings_that_point_at_the_unsafe_loader_are_dropped_and_others_kept(tmp_path, monkeypatch):
    def warning_load(*args, **kwargs):
        warnings.warn("re-run torch.load with weights_only=False if you trust the file", UserWarning)
        warnings.warn("a storage format this torch reads slowly", UserWarning)
        return {"ok": torch.ones(1)}

    monkeypatch.setattr(torch_files.torch, "load", warning_load)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_torch_file(tmp_path / "any.pt", "any.pt")["ok"].item() == 1.0
    assert [str(w.message) for w in caught] == ["a storage format this torch reads slowly"]


def test_a_file_that_is_not_a_torch_file_is_unreadable_and_never_advised_around(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(UnreadableTorchFile, match=r"garbage.pt is not a readable torch file \(Unsupported operand 103\)$"):
        load_torch_file(path, str(path))
    checkpoint = tmp_path / ".run.checkpoint" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"garbage")
    result = CliRunner().invoke(cli, ["distill", "--ipc", "1", "--iterations", "2", "--pool", "ConvNetW32",
                                      "--out", str(tmp_path / "run"), "--resume"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert f"checkpoint {checkpoint} is not a readable torch file (Unsupported operand 103)" in result.stderr
    assert not any(word in result.output for word in UNSAFE_ADVICE) and checkpoint.exists()
