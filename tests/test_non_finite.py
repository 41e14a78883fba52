"""NaN and infinity never pass silently: options are refused while parsing, `evaluate` refuses a
set with non-finite pixels, and what raydd writes as JSON is strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import raydd.core.evaluate.protocol as protocol
from raydd.cli.main import cli
from raydd.core.artifact import SyntheticSet, build_meta, save_synset
from raydd.core.datasets import load_dataset
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import random_real
from raydd.results import write_rows
from test_results_support import make_row

RAYDD = str(Path(sys.executable).with_name("raydd"))


def test_distill_with_a_nan_learning_rate_is_one_line_and_writes_nothing(tmp_path):
    """End to end, as a user runs it: a real process, its stderr, its exit status."""
    out = tmp_path / "nan-set"
    run = subprocess.run([RAYDD, "distill", "--lr-img", "nan", "--iterations", "2", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "--lr-img" in run.stderr and "'nan' is not a finite number" in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, value", [
    ("--lr-img", "inf"), ("--lr-net", "nan"), ("--momentum-img", "-inf"), ("--lr-img", "1e999"),
])
def test_every_numeric_distill_setting_must_be_finite(tmp_path, option, value):
    result = CliRunner().invoke(cli, ["distill", option, value, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert option in result.output and "is not a finite number" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(protocol, "train_group", refuse)


@pytest.mark.parametrize("args, message", [
    (["--lr", "nan"], "'nan' is not a finite number"),
    (["--val-size", "inf"], "'inf' is not a finite number"),
    (["--alphas", "0.5,nan"], "expected comma-separated finite numbers"),
    (["--temperatures", "inf"], "expected comma-separated finite numbers"),
])
def test_every_numeric_evaluate_setting_must_be_finite(no_training, args, message):
    result = CliRunner().invoke(cli, ["evaluate", "--random-real", "1", *args])
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1


def _artifact_with(tmp_path, images):
    data = load_dataset("digits")
    _, labels = random_real(data, 1, seed=0)
    cfg = DistillConfig(dataset="digits", ipc=1, iterations=0)
    meta = build_meta(cfg, data.info, 0, 0.0, val_size=data.val_size, split_seed=data.split_seed)
    return save_synset(SyntheticSet(images, labels, meta), tmp_path / "set")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_evaluate_refuses_non_finite_images(tmp_path, no_training, bad):
    images = torch.zeros(10, 1, 28, 28)
    images[3, 0, 5, 5] = bad
    directory = _artifact_with(tmp_path, images)
    result = CliRunner().invoke(cli, ["evaluate", str(directory), "--students", "MLP", "--epochs", "1"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "NaN or infinite values" in result.output


def test_rows_with_non_finite_json_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="column 'config_json' is not strict JSON"):
        write_rows([make_row(config_json={"lr_img": float("nan")})], str(tmp_path))
    with pytest.raises(ValueError, match="column 'config_json' is not strict JSON: NaN"):
        write_rows([make_row(config_json='{"lr_img": NaN}')], str(tmp_path))
    with pytest.raises(ValueError, match="column 'test_acc' may not be null"):  # NaN is no value
        write_rows([make_row(test_acc=float("nan"))], str(tmp_path))
    with pytest.raises(ValueError, match="column 'train_seconds' must be a finite number"):
        write_rows([make_row(train_seconds=float("inf"))], str(tmp_path))
    assert list(tmp_path.iterdir()) == []
