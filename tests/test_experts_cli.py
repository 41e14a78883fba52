"""`raydd experts train` and `raydd experts list`: resumable training into the store, bad input."""

import json

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli

# MLP, one epoch without DSA: an expert in about a second on digits
FAST = ["--dataset", "digits", "--arch", "MLP", "--epochs", "1", "--no-dsa", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(cli, ["experts", *args])


def test_train_skips_complete_experts_and_retrains_a_damaged_one(tmp_path):
    store = tmp_path / "experts"
    first = invoke("train", *FAST, "--experts", "2", "--storage", str(store))
    assert first.exit_code == 0, first.output
    assert "[1/2] digits/MLP seed 0: trained" in first.output and "2 trained, 0 retrained, 0 reused" in first.output
    trajectories = sorted(store.glob("digits/MLP/*/trajectory.safetensors"))
    assert len(trajectories) == 2
    damaged = trajectories[0]
    damaged.write_bytes(damaged.read_bytes()[:-8])  # a truncated file
    again = invoke("train", *FAST, "--experts", "3", "--storage", str(store))
    assert again.exit_code == 0, again.output
    assert "1 trained, 1 retrained, 1 reused" in again.output
    assert "retrained in" in again.output and "damaged" in again.output
    listed = invoke("list", "--storage", str(store), "--json")
    assert listed.exit_code == 0, listed.output
    (group,) = [json.loads(line) for line in listed.output.splitlines()]
    assert (group["dataset"], group["arch"], group["epochs"], group["augment"], group["zca"]) == (
        "digits", "MLP", 1, "dc", False)
    assert sorted(group["complete"]) == [0, 1, 2] and group["incomplete"] == []


def test_list_shows_an_incomplete_expert_and_its_problem(tmp_path):
    store = tmp_path / "experts"
    assert invoke("train", *FAST, "--experts", "1", "--storage", str(store)).exit_code == 0
    (trajectory,) = store.glob("digits/MLP/*/trajectory.safetensors")
    trajectory.unlink()
    listed = invoke("list", "--storage", str(store))
    assert listed.exit_code == 0, listed.output
    assert "MLP" in listed.output and "0: damaged: trajectory.safetensors is missing" in listed.output


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope", "--arch", "MLP"], "unknown dataset 'nope'"),
    (["--arch", "MLP,Nope"], "unknown architecture(s) Nope"),
    (["--arch", "MLP", "--experts", "0"], "Invalid value for '--experts': 0 is not in the range x>=1"),
    (["--arch", "MLP", "--epochs", "0"], "Invalid value for '--epochs': 0 is not in the range x>=1"),
    (["--arch", "ConvNetBN"], "ConvNetBN cannot be unrolled by trajectory matching"),
    (["--arch", "MLP", "--lr-teacher", "-1"], "lr must be a finite number > 0"),
])
def test_bad_input_is_one_line_before_any_training(tmp_path, args, message):
    result = invoke("train", "--experts", "1", *args, "--storage", str(tmp_path / "s"))
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_foreign_directory_in_the_store_is_refused_and_left_alone(tmp_path):
    from raydd.core.datasets import load_dataset
    from raydd.core.experts import ExpertIdentity, ExpertSettings, ExpertStore

    store = ExpertStore(tmp_path / "experts")
    identity = ExpertIdentity.of(load_dataset("digits"), "MLP", ExpertSettings(epochs=1, augment="dc"), 0)
    mine = store.directory(identity)
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    result = invoke("train", *FAST, "--experts", "1", "--storage", str(store.root))
    assert result.exit_code == 1 and "raydd leaves it alone" in result.output
    assert (mine / "notes.txt").read_text() == "mine" and not (mine / "manifest.json").exists()


def test_list_of_a_missing_store_is_one_line(tmp_path):
    result = invoke("list", "--storage", str(tmp_path / "none"))
    assert result.exit_code == 2 and "is not a directory" in result.output


def test_experts_as_ray_tasks_are_the_experts_trained_in_process(tmp_path, ray_local):
    from safetensors.torch import load_file

    import torch

    here, there = tmp_path / "here", tmp_path / "there"
    assert invoke("train", *FAST, "--experts", "2", "--storage", str(here)).exit_code == 0
    result = invoke("train", *FAST, "--experts", "2", "--ray", "--storage", str(there))
    assert result.exit_code == 0, result.output
    assert "as Ray tasks" in result.output and "2 trained, 0 retrained, 0 reused" in result.output
    for mine in sorted(here.glob("digits/MLP/*/trajectory.safetensors")):
        theirs = there / mine.relative_to(here)
        torch.testing.assert_close(load_file(theirs)["trajectory"], load_file(mine)["trajectory"])
    again = invoke("train", *FAST, "--experts", "2", "--ray", "--storage", str(there))
    assert again.exit_code == 0 and "0 trained, 0 retrained, 2 reused" in again.output


def test_an_error_in_an_expert_task_reaches_the_command_as_itself(ray_local):
    from raydd.core.experts import ExpertError
    from raydd.sweep.expert_tasks import task_result

    def fails():
        raise ExpertError("a directory that is not ours")

    with pytest.raises(ExpertError, match="^a directory that is not ours$"):
        task_result(ray_local, ray_local.remote(fails).remote())
