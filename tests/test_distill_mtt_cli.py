"""`raydd distill --method mtt`: the set it writes, and every refusal before the first iteration."""

import shutil

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import load_synset

# MLP experts of 2 epochs without DSA: seconds to train; two short unrolls: seconds to distil
EXPERTS = ["--dataset", "digits", "--arch", "MLP", "--epochs", "2", "--no-dsa", "--device", "cpu", "--experts", "2"]
SHORT = ["--pool", "MLP", "--ipc", "1", "--iterations", "2", "--syn-steps", "2", "--expert-epochs", "1",
         "--max-start-epoch", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("experts") / "store"
    result = CliRunner().invoke(cli, ["experts", "train", *EXPERTS, "--storage", str(root)])
    assert result.exit_code == 0, result.output
    return root


def distill(store, out, *args):
    return CliRunner().invoke(cli, ["distill", "--method", "mtt", "--experts-storage", str(store), *SHORT, *args,
                                    "--out", str(out)])


def test_mtt_writes_a_set_with_its_learned_lr_and_settings(store, tmp_path):
    result = distill(store, tmp_path / "set")
    assert result.exit_code == 0, result.output
    assert "2 experts per architecture (2 epochs, zca off)" in result.output and "iter     2/2" in result.output
    synset = load_synset(tmp_path / "set")
    assert synset.images.shape == (10, 1, 28, 28) and synset.meta["method"] == "mtt"
    mtt = synset.meta["config"]  # flat: the shared keys, then MTT's own
    assert (mtt["syn_steps"], mtt["expert_epochs"], mtt["max_start_epoch"], mtt["num_experts"]) == (2, 1, 2, 2)
    assert mtt["train_epochs"] == 2 and mtt["augment_teacher"] == "dc"
    assert mtt["lr_syn_init"] == 0.01  # the experts' lr, as the reference starts it
    assert synset.meta["learned_lr"] != 0.01  # it was learned: moved by its own optimiser
    assert synset.meta["zca"] is None and synset.meta["iterations_done"] == 2


def test_missing_experts_name_the_command_that_makes_them(store, tmp_path):
    result = distill(store, tmp_path / "set", "--pool", "MLP=0.5,LeNet=0.5")
    assert result.exit_code == 1
    assert "holds no experts of MLP, LeNet for digits" in result.output
    assert "raydd experts train --dataset digits --arch MLP,LeNet --experts 10 --epochs 50" in result.output
    more = distill(store, tmp_path / "set", "--num-experts", "3")
    assert more.exit_code == 1 and "MLP: seed 2 is missing" in more.output
    assert "raydd experts train --dataset digits --arch MLP --experts 3 --epochs 2" in more.output
    assert "--no-dsa" in more.output and not (tmp_path / "set").exists()


def test_a_damaged_expert_is_refused_not_skipped(store, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    trajectory = sorted(copy.glob("digits/MLP/*/trajectory.safetensors"))[0]
    trajectory.write_bytes(trajectory.read_bytes()[:-4])
    result = distill(copy, tmp_path / "set")
    assert result.exit_code == 1 and "is damaged" in result.output and "raydd experts train" in result.output


def test_several_stored_settings_must_be_chosen(store, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    more = CliRunner().invoke(cli, ["experts", "train", *EXPERTS, "--epochs", "3",
                                    "--storage", str(copy)])
    assert more.exit_code == 0, more.output
    ambiguous = distill(copy, tmp_path / "set")
    assert ambiguous.exit_code == 1 and "under 2 settings" in ambiguous.output
    chosen = distill(copy, tmp_path / "set", "--train-epochs", "3")
    assert chosen.exit_code == 0, chosen.output
    assert load_synset(tmp_path / "set").meta["config"]["train_epochs"] == 3


@pytest.mark.parametrize("args, message", [
    (["--max-start-epoch", "3"], "--max-start-epoch 3 with --expert-epochs 1 reads expert epoch 3, past the "
                                 "stored experts' 2 epochs"),
    (["--syn-steps", "0"], "Invalid value for '--syn-steps': 0 is not in the range x>=1"),
    (["--lr-lr", "0"], "Invalid value for '--lr-lr': '0' is not above 0"),
    (["--distance", "mse"], "--distance does not apply to --method mtt"),
    (["--zca", "--train-epochs", "2"], "holds no experts of MLP for digits matching --train-epochs 2, --zca; make "
                                       "them with: raydd experts train --dataset digits --arch MLP --experts 10 "
                                       "--epochs 2 --lr-teacher 0.01 --batch-train 256 --zca --storage"),
])
def test_bad_mtt_input_is_one_line(store, tmp_path, args, message):
    result = distill(store, tmp_path / "set", *args)
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "set").exists()


def test_an_unroll_larger_than_the_memory_is_refused_before_loading(store, tmp_path, monkeypatch):
    from raydd.core.distill import mtt_memory

    monkeypatch.setattr(mtt_memory, "available_memory", lambda device: 1000)
    monkeypatch.setattr("raydd.core.datasets.load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    result = distill(store, tmp_path / "set")
    assert result.exit_code == 2 and "MTT with MLP, syn_steps 2 and batch_syn 10 needs about" in result.output


def test_mtt_flags_and_storage_belong_to_mtt(store, tmp_path):
    dc = CliRunner().invoke(cli, ["distill", "--method", "dc", "--syn-steps", "3", "--out", str(tmp_path / "x")])
    assert dc.exit_code == 2 and "--syn-steps does not apply to --method dc (only to --method mtt)" in dc.output
    bare = CliRunner().invoke(cli, ["distill", "--method", "mtt", "--out", str(tmp_path / "x")])
    assert bare.exit_code == 2 and "--method mtt needs --experts-storage DIR" in bare.output


def test_an_interrupted_mtt_run_resumes_to_the_uninterrupted_set(store, tmp_path, monkeypatch):
    import torch

    from raydd.cli.distill_cmd import DistillProgressPrinter

    longer = ["--iterations", "3", "--checkpoint-every", "1"]
    assert distill(store, tmp_path / "whole", *longer).exit_code == 0
    printer = DistillProgressPrinter.__call__

    def stop_after_two(self, p):
        printer(self, p)
        if p.iteration == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(DistillProgressPrinter, "__call__", stop_after_two)
    stopped = distill(store, tmp_path / "run", *longer)
    assert stopped.exit_code == 130
    assert "holds iteration 2: continue with the same command and --resume" in stopped.output
    monkeypatch.undo()
    again = distill(store, tmp_path / "run", *longer)
    assert again.exit_code == 2 and "holds an unfinished run; pass --resume or remove it" in again.output
    other = distill(store, tmp_path / "run", *longer, "--lr-lr", "0.001", "--resume")
    assert other.exit_code == 1 and "the checkpoint was written by another configuration: lr_lr 1e-05 there, 0.001 here" in other.output
    resumed = distill(store, tmp_path / "run", *longer, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "iter     2/3" not in resumed.output and "iter     3/3" in resumed.output
    assert torch.equal(load_synset(tmp_path / "run").images, load_synset(tmp_path / "whole").images)
    assert load_synset(tmp_path / "run").meta["learned_lr"] == load_synset(tmp_path / "whole").meta["learned_lr"]
    assert not (tmp_path / ".run.checkpoint").exists()
    nothing = distill(store, tmp_path / "run", *longer, "--resume")
    assert nothing.exit_code == 2 and "there is no unfinished run to continue" in nothing.output


def test_list_methods_names_mtt():
    result = CliRunner().invoke(cli, ["list", "methods"])
    assert result.exit_code == 0 and result.output.split() == ["dc", "dsa", "dm", "mtt"]
