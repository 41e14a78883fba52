"""`raydd evaluate`: the table, --json records, and refusals before any training."""

import json
import re

import pytest
from click.testing import CliRunner

import raydd.core.evaluate.protocol as protocol
from raydd.cli.main import cli
from raydd.core.artifact import SyntheticSet, build_meta, save_synset
from raydd.core.datasets import load_dataset
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import random_real
from raydd.stats import SPREAD_NOTE

QUICK = ["--epochs", "2", "--device", "cpu", "--teacher", "MLP", "--temperatures", "2"]
CELL = re.compile(r"\d+\.\d\d ± \d+\.\d\d \(2\)")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    data = load_dataset("digits")
    images, labels = random_real(data, 1, seed=0)
    cfg = DistillConfig(dataset="digits", method="dc", ipc=1, iterations=0)
    directory = tmp_path_factory.mktemp("sets") / "dc1"
    meta = build_meta(cfg, data.info, 0, 0.0, val_size=data.val_size, split_seed=data.split_seed)
    save_synset(SyntheticSet(images, labels, meta), directory)
    return directory


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(protocol, "train_members", refuse)


def _invoke(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)])


def test_table_has_students_as_columns_and_set_by_kd_as_rows(artifact):
    result = _invoke(artifact, "--students", "MLP,LeNet", "--kd", "off,on", "--seeds", 2, "--random-real", 1, *QUICK)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["MLP", "LeNet"]
    rows, footer = lines[2:6], lines[6:]
    labels = [re.split(r"\s{2,}", row)[0] for row in rows]
    assert labels == ["dc ipc1, kd off", "dc ipc1, kd on", "random real ipc1, kd off", "random real ipc1, kd on"]
    for row in rows:
        assert len(CELL.findall(row)) == 2, row
    assert footer[0] == "" and SPREAD_NOTE in footer[1]
    progress = [line for line in result.stderr.splitlines() if " seed " in line]
    assert len(progress) == 16 and all(re.search(r"  eta (\?|\d+[smhd])", line) for line in progress), progress
    assert progress[-1].endswith("eta 0s")  # 2 sets x 2 students x 2 KD x 2 seeds: the 16th is the last


def test_json_prints_one_object_per_record(artifact):
    result = _invoke(artifact, "--students", "MLP,LeNet", "--kd", "off,on", "--seeds", 2, "--json", *QUICK)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(records) == 2 * 2 * 2
    assert {(r["student"], r["kd"], r["seed"]) for r in records} == {
        (s, k, seed) for s in ("MLP", "LeNet") for k in (False, True) for seed in (0, 1)
    }
    for r in records:
        assert r["source"] == "dc ipc1" and r["dataset"] == "digits" and r["artifact"] == str(artifact)
        assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["val_acc"] <= 1.0
        assert (r["teacher"], r["temperature"]) == (("MLP", 2.0) if r["kd"] else (None, None))
        assert r["config"]["epochs"] == 2


def test_random_real_alone_needs_no_directory():
    result = _invoke("--random-real", 1, "--dataset", "digits", "--students", "MLP", "--kd", "off", "--seeds", 1, *QUICK)
    assert result.exit_code == 0, result.output
    assert "random real ipc1, kd off" in result.stdout


def test_a_missing_directory_is_a_clear_error(tmp_path, no_training):
    result = _invoke(tmp_path / "nowhere", "--students", "MLP", *QUICK)
    assert result.exit_code != 0
    assert "nowhere" in result.output and "not a directory" in result.output


def test_a_truncated_artifact_is_a_clear_error(artifact, tmp_path, no_training):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in artifact.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    images = broken / "images.safetensors"
    images.write_bytes(images.read_bytes()[:100])
    result = _invoke(broken, "--students", "MLP", *QUICK)
    assert result.exit_code != 0
    assert "truncated" in result.output


def test_a_foreign_directory_is_a_clear_error(tmp_path, no_training):
    (tmp_path / "meta.json").write_text(json.dumps({"format": "something-else"}))
    result = _invoke(tmp_path, "--students", "MLP", *QUICK)
    assert result.exit_code != 0
    assert "format" in result.output


def test_unknown_students_are_listed_with_the_known_ones(artifact, no_training):
    result = _invoke(artifact, "--students", "MLP,Transformer", *QUICK)
    assert result.exit_code != 0
    assert "Transformer" in result.output and "ConvNet" in result.output and "ResNet18" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kd", "maybe"], "maybe"),
        (["--temperatures", "0"], "temperatures"),
        (["--alphas", "half"], "numbers"),
        (["--dataset", "cifar10"], "disagrees"),
        (["--whole-dataset"], "--epochs"),
        (["--val-size", "0.2"], "differs from the 0.1 the set was distilled with"),
        (["--split-seed", "3"], "differs from the 0 the set was distilled with"),
    ],
)
def test_bad_options_are_refused_before_training(artifact, no_training, args, message):
    argv = ["--students", "MLP", "--device", "cpu", "--teacher", "MLP", *args]
    if "--whole-dataset" not in args:
        argv += ["--epochs", "2"]
    result = _invoke(artifact, *argv)
    assert result.exit_code != 0
    assert message in result.output


def test_nothing_to_evaluate_is_refused(no_training):
    result = _invoke("--students", "MLP", *QUICK)
    assert result.exit_code != 0
    assert "nothing to evaluate" in result.output


def test_out_writes_rows_in_the_sweep_schema_that_results_show_reads(artifact, tmp_path):
    from raydd.results import COLUMNS, load

    out = tmp_path / "rows"
    result = _invoke(artifact, "--students", "MLP", "--kd", "off,on", "--seeds", 2, "--random-real", 1,
                     "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    df = load(str(out))
    assert list(df.columns) == list(COLUMNS) and len(df) == 8  # (set + random real) x kd x 2 seeds
    dc = df[df["method"] == "dc"]
    assert set(dc["trial_key"]) == {"dc1"} and set(dc["pool_name"]) == {"ConvNet=1.0"} and len(dc) == 4
    assert dc["synset_uri"].iloc[0] == str(artifact.resolve()) and set(dc["device"]) == {"cpu"}
    base = df[df["method"] == "random_real"]
    assert set(base["pool_name"]) == {"-"} and base["pool_main_weight"].isna().all() and len(base) == 4
    assert (base["distill_seed"] == base["eval_seed"]).all()  # each seed draws its own set
    assert set(df["sweep"]) == {"raydd-evaluate"} and sorted(df["eval_seed"].unique()) == [0, 1]
    shown = CliRunner().invoke(cli, ["results", "show", str(out)])
    assert shown.exit_code == 0 and "random_real" in shown.output and "dc" in shown.output
    assert "(2×1)" in shown.output and "(1×2)" in shown.output  # two draws of random images; one dc set
    again = _invoke(artifact, "--students", "MLP", "--kd", "off", "--seeds", 1, "--out", out, *QUICK, "--epochs", 3)
    assert again.exit_code == 0 and len(load(str(out))) == 9  # another protocol: its own file, its own row


def _foreign_parquet(directory):
    """A Parquet file pandas wrote, beside a file of raydd's rows: only the first is named."""
    import pandas as pd

    from raydd.results import write_rows
    from test_results_support import make_row

    directory.mkdir()
    write_rows([make_row()], str(directory))
    pd.DataFrame({"a": [1]}).to_parquet(directory / "mine.parquet")


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "exists and is not a directory"),
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "holds files that are not result rows"),
    (lambda p: (p.mkdir(), (p / "sub").mkdir()), "not result rows raydd wrote (sub)"),
    (_foreign_parquet, "not result rows raydd wrote (mine.parquet)"),
])
def test_a_bad_out_is_refused_before_training(artifact, tmp_path, no_training, make, message):
    out = tmp_path / "out"
    make(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} if out.is_dir() else out.read_bytes()
    result = _invoke(artifact, "--students", "MLP", "--out", out, *QUICK)
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} if out.is_dir() else out.read_bytes()
    assert after == before  # nothing added, nothing changed


def test_out_writes_whole_dataset_rows_with_their_own_epochs(artifact, tmp_path):
    from raydd.results import load

    out = tmp_path / "rows"
    result = _invoke(artifact, "--whole-dataset", "--whole-epochs", 1, "--students", "MLP", "--kd", "off",
                     "--seeds", 1, "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    whole = load(str(out)).set_index("method").loc["whole_dataset"]
    train = len(load_dataset("digits").train)
    assert (whole["ipc"], whole["epochs"], whole["labels"], whole["label_bytes"]) == (0, 1, "hard", 8 * train)
    shown = CliRunner().invoke(cli, ["results", "show", str(out)])
    assert shown.exit_code == 0 and "whole_dataset" in shown.output  # its epochs (1, not 2) on its own row
