"""Trajectory matching end to end through the command line, as docs/mtt.md runs it: experts, then
an MTT set from them, then its evaluation, each stage reading what the one before wrote."""

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import load_synset


def run(*args):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_experts_then_mtt_then_evaluation(tmp_path):
    store, out, rows = str(tmp_path / "experts"), str(tmp_path / "mtt1"), str(tmp_path / "rows")
    run("experts", "train", "--dataset", "digits", "--arch", "ConvNet", "--experts", "2", "--epochs", "2", "--zca",
        "--storage", store, "--device", "cpu")
    distilled = run("distill", "--method", "mtt", "--experts-storage", store, "--pool", "ConvNet", "--ipc", "1",
                    "--iterations", "3", "--syn-steps", "3", "--expert-epochs", "1", "--max-start-epoch", "2",
                    "--device", "cpu", "--out", out)
    assert "2 experts per architecture (2 epochs, zca on)" in distilled
    meta = load_synset(out).meta
    assert meta["zca"]["fitted_images"] > 0 and meta["learned_lr"] > 0 and meta["iterations_done"] == 3
    evaluated = run("evaluate", out, "--students", "ConvNet", "--kd", "off", "--seeds", "1", "--epochs", "20",
                    "--device", "cpu", "--json", "--out", rows)
    assert "real data whitened by the set's ZCA" in evaluated
    record = json.loads(next(line for line in evaluated.splitlines() if line.startswith("{")))
    assert record["config"]["lr"] == meta["learned_lr"] and 0.0 <= record["test_acc"] <= 1.0
    (row,) = pq.read_table(rows).to_pylist()
    assert (row["method"], row["learned_lr"], row["lr"]) == ("mtt", meta["learned_lr"], meta["learned_lr"])
