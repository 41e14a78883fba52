import torch
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import load_synset

FAST = ["--dataset", "digits", "--ipc", "1", "--pool", "ConvNetW32=0.9,MLP=0.1", "--batch-real", "8",
        "--device", "cpu", "--progress-every", "1"]


def invoke(*args):
    return CliRunner().invoke(cli, ["distill", *FAST, *args])


def test_distill_writes_the_artifact_and_shows_progress(tmp_path):
    result = invoke("--method", "dc", "--iterations", "2", "--seed", "0", "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    synset = load_synset(tmp_path / "a")
    assert synset.images.shape == (10, 1, 28, 28)
    assert synset.meta["pool"]["archs"] == {"ConvNetW32": 0.9, "MLP": 0.1}
    assert synset.meta["iterations_done"] == 2 and synset.meta["config"]["batch_real"] == 8
    assert "iter     2/2" in result.output and "it/s" in result.output and "eta 0s" in result.output
    assert not (tmp_path / ".a.checkpoint").exists()  # the finished run's checkpoint is dropped


def test_same_command_same_seed_same_images(tmp_path):
    for name in ("a", "b"):
        assert invoke("--method", "dm", "--iterations", "2", "--out", str(tmp_path / name)).exit_code == 0
    assert torch.equal(load_synset(tmp_path / "a").images, load_synset(tmp_path / "b").images)


def test_resume_continues_an_unfinished_run(tmp_path):
    from raydd.core.distill import Distiller, DistillConfig, save_checkpoint
    from raydd.core.datasets import load_dataset

    out = tmp_path / "run"
    args = ["--method", "dsa", "--iterations", "3", "--out", str(out)]
    assert invoke(*args).exit_code == 0
    whole = load_synset(out).images
    # leave an unfinished checkpoint (1 of 3 iterations) where the CLI keeps it
    cfg = DistillConfig(**{**load_synset(out).meta["config"], "pool": load_synset(out).meta["pool"]})
    d = Distiller(cfg, load_dataset("digits"))
    d.step()
    save_checkpoint(d.state_dict(), tmp_path / ".run.checkpoint")
    refused = invoke(*args)
    assert refused.exit_code == 2 and "pass --resume" in refused.output
    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert "iter     1/3" not in result.output and "iter     3/3" in result.output
    assert torch.allclose(load_synset(out).images, whole, atol=1e-6)


def test_bad_input_is_a_usage_error(tmp_path):
    bad_pool = CliRunner().invoke(cli, ["distill", "--pool", "ConvNet=0.5,Nope=0.5", "--out", str(tmp_path / "x")])
    assert bad_pool.exit_code == 2 and "unknown architecture 'Nope'" in bad_pool.output
    bad_ipc = invoke("--ipc", "0", "--out", str(tmp_path / "x"))
    assert bad_ipc.exit_code == 2 and "ipc must be" in bad_ipc.output
    normalised = invoke("--pool", "ConvNetW32=3,MLP=1", "--normalize-pool", "--iterations", "1",
                        "--out", str(tmp_path / "n"))
    assert normalised.exit_code == 0, normalised.output
    assert load_synset(tmp_path / "n").meta["pool"]["archs"] == {"ConvNetW32": 0.75, "MLP": 0.25}
