"""The method interface: each method owns its keys (a settings dataclass), its defaults and its run;
`DistillConfig` keeps what every method shares, and `distill()` drives any method's run."""

from dataclasses import dataclass, fields

import pytest
import torch

from raydd.core.datasets import Dataset, Split, load_dataset
from raydd.core.distill import METHODS, DCSettings, DistillConfig, Method, MTTMethodSettings, distill
from raydd.core.distill.config import shared_keys
from raydd.core.distill.mtt import MTTRun, initial_images
from raydd.core.experts import ExpertError, ExpertSettings, train_expert
from raydd.core.pool import PoolSpec
from raydd.spec import SpecError, parse_spec
from test_spec import good_raw

# The flat keys a DC config wrote before methods owned their settings: sweeps and checkpoints stored
# then still read back, and their experiment hashes stay the same.
DC_KEYS_BEFORE = {
    "dataset", "method", "ipc", "iterations", "pool", "seed", "lr_img", "momentum_img", "lr_net", "momentum_net",
    "batch_real", "batch_train", "outer_loop", "inner_loop", "init", "distance", "dsa_strategy",
    "bn_batch_per_class", "compile", "precision"}
MTT_SMALL = dict(syn_steps=2, expert_epochs=1, max_start_epoch=2, train_epochs=2, batch_teacher=50, lr_img=100.0)


def test_each_method_owns_its_keys_and_the_config_only_the_shared_ones():
    assert shared_keys() == ["dataset", "method", "ipc", "iterations", "pool", "seed", "lr_img", "momentum_img", "init"]
    assert {name: METHODS.get(name).settings for name in METHODS.names()} == {
        "dc": DCSettings, "dsa": DCSettings, "dm": DCSettings, "mtt": MTTMethodSettings}
    config = DistillConfig(method="mtt", syn_steps=4, train_epochs=30)
    assert isinstance(config.settings, MTTMethodSettings) and config.settings.syn_steps == 4
    assert not hasattr(config, "syn_steps") and not hasattr(DistillConfig(), "lr_net")


def test_a_dc_config_writes_the_same_flat_keys_as_before():
    assert set(DistillConfig(ipc=10).to_dict()) == DC_KEYS_BEFORE


@pytest.mark.parametrize("method", ["dc", "dsa", "dm", "mtt"])
def test_every_method_round_trips_through_its_flat_dict(method):
    config = DistillConfig(method=method, ipc=2, seed=3)
    assert DistillConfig.from_dict(config.to_dict()) == config
    unset_later_keys = getattr(config.settings, "RECORDED_WHEN_SET", set())  # left out while unset
    assert set(config.to_dict()) == set(shared_keys()) | (set(METHODS.get(method).keys) - unset_later_keys)


@pytest.mark.parametrize("method, key, owners", [
    ("mtt", "lr_net", "dc, dsa, dm"), ("dc", "syn_steps", "mtt"), ("dm", "zca", "mtt")])
def test_a_key_of_another_method_is_refused_naming_its_owners(method, key, owners):
    with pytest.raises(ValueError, match=f"^{key} does not apply to method {method} \\(it is a setting of {owners}\\)$"):
        DistillConfig(method=method, **{key: getattr(METHODS.get(owners.split(",")[0]).settings(), key)})


def test_defaults_are_the_methods_own():
    mtt = DistillConfig(method="mtt")
    assert (mtt.lr_img, mtt.init, mtt.settings.lr_syn_init) == (1000.0, "real", 0.01)  # lr_syn_init: lr_teacher
    assert DistillConfig(method="mtt", lr_teacher=0.02).settings.lr_syn_init == 0.02
    assert (DistillConfig(method="dm").lr_img, DistillConfig(method="dsa").init) == (1.0, "noise")


def test_mtt_keys_are_checked_alone_and_together():
    with pytest.raises(ValueError, match="^batch_teacher must be an integer >= 1, got 0$"):
        DistillConfig(method="mtt", batch_teacher=0)
    with pytest.raises(ValueError, match="^augment_teacher must be one of dsa, dc, none, got 'flip'$"):
        DistillConfig(method="mtt", augment_teacher="flip")
    assert MTTMethodSettings(train_epochs=2).train_epochs == 2  # alone: the start epochs are not its business
    with pytest.raises(ValueError, match="past the experts' 2 epochs"):
        DistillConfig(method="mtt", train_epochs=2)  # together: 25 start epochs need longer experts


# ---- one loop for every method -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    data = load_dataset("digits")
    return Dataset(data.info, Split(data.train.images[:100], data.train.labels[:100]), data.val, data.test,
                   val_size=data.val_size, split_seed=data.split_seed)


@pytest.fixture(scope="module")
def experts(small):
    settings = ExpertSettings(epochs=2, batch_size=50)
    return {arch: [train_expert(arch, small, settings, seed)[0] for seed in (0, 1)] for arch in ("ConvNetW32", "MLP")}


def test_distill_drives_an_mtt_run_exactly_as_the_run_itself(small, experts):
    config = DistillConfig(dataset="digits", method="mtt", iterations=3, pool="ConvNetW32=0.5,MLP=0.5", seed=3,
                           num_experts=2, **MTT_SMALL)
    synset = distill(config, small, "cpu", experts=experts)
    settings = config.settings.mtt_settings(config.lr_img, config.momentum_img, config.init)
    images, labels = initial_images(small.train, small.info, 1, "real", seed=3)
    run = MTTRun(settings, small.info, images, labels, experts, PoolSpec.parse("ConvNetW32=0.5,MLP=0.5"), seed=3)
    losses = [run.step() for _ in range(3)]
    assert torch.equal(synset.images, run.images.detach()) and synset.meta["learned_lr"] == run.syn_lr
    assert synset.meta["final_loss"] == losses[-1] and synset.meta["config"] == config.to_dict()


def test_an_mtt_run_through_the_loop_resumes_to_the_uninterrupted_set(small, experts, tmp_path):
    config = DistillConfig(dataset="digits", method="mtt", iterations=3, pool="ConvNetW32", num_experts=2, **MTT_SMALL)
    whole = distill(config, small, "cpu", experts=experts)
    first = DistillConfig.from_dict({**config.to_dict(), "iterations": 2})
    distill(first, small, "cpu", checkpoint_dir=tmp_path, checkpoint_every=1, experts=experts)
    with pytest.raises(ValueError, match="another configuration: iterations 2 there, 3 here"):
        distill(config, small, "cpu", checkpoint_dir=tmp_path, experts=experts)
    import raydd.core.distill.loop as loop
    state = loop.load_checkpoint(tmp_path)
    state["config"]["iterations"] = 3  # as if the 3-iteration run had stopped after 2
    loop.save_checkpoint(state, tmp_path)
    resumed = distill(config, small, "cpu", checkpoint_dir=tmp_path, experts=experts)
    assert torch.equal(resumed.images, whole.images) and resumed.meta["learned_lr"] == whole.meta["learned_lr"]


def test_mtt_without_experts_or_with_a_store_lacking_them_is_one_line(small, tmp_path):
    config = DistillConfig(dataset="digits", method="mtt", iterations=1, pool="MLP", num_experts=1, **MTT_SMALL)
    with pytest.raises(ValueError, match="^method mtt needs expert trajectories"):
        distill(config, small, "cpu")
    with pytest.raises(ExpertError, match="lacks the experts this run needs .*make them with: raydd experts train "
                                          "--dataset digits --arch MLP --experts 1 --epochs 2"):
        distill(config, small, "cpu", experts=tmp_path / "store")


# ---- adding a method: a settings dataclass, a run, one registration -----------------------------------
@dataclass(frozen=True)
class ShiftSettings:
    shift: float = 0.1

    def __post_init__(self) -> None:
        if not self.shift > 0:
            raise ValueError(f"shift must be > 0, got {self.shift}")

    def resolved(self, ipc: int) -> "ShiftSettings":
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@pytest.fixture
def shift_method(monkeypatch):
    entries = dict(METHODS._entries)
    monkeypatch.setattr(METHODS, "_entries", entries)
    METHODS.add("shift", Method(ShiftSettings, lr_img=1.0, init="real", run=lambda *a: None))
    return METHODS.get("shift")


def test_a_registered_method_gets_its_keys_in_configs_and_sweep_files(shift_method):
    assert DistillConfig(method="shift", shift=0.5).to_dict()["shift"] == 0.5
    raw = good_raw()
    raw["distill"] = {"method": "shift", "iterations": 5, "shift": 0.25}
    assert {p.config.settings.shift for p in parse_spec(raw).points} == {0.25}
    raw["distill"]["shift"] = -1
    with pytest.raises(SpecError, match="distill.shift: must be > 0, got -1"):
        parse_spec(raw)


def test_a_sweep_key_of_another_method_is_refused_at_its_place():
    raw = good_raw()
    raw["distill"] = {"method": "mtt", "iterations": 5, "batch_real": 16, "train_epochs": 30}
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    assert caught.value.problems == ["distill.batch_real: does not apply to method mtt (it is a setting of dc, dsa, dm)"]
    raw["distill"] = {"iterations": 5, "batch_real": 16}
    raw["grid"]["method"] = ["dc", "mtt"]
    with pytest.raises(SpecError, match="batch_real does not apply to method mtt"):
        parse_spec(raw)


def test_a_sweep_pool_that_mtt_cannot_unroll_is_refused_before_ray():
    raw = good_raw()
    raw["distill"] = {"method": "mtt", "iterations": 5, "train_epochs": 30}
    raw["grid"]["pool"] = ["ConvNetW32", "ConvNetW32=0.5,ConvNetBN=0.5"]
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    [problem] = [p for p in caught.value.problems if "unrolled" in p]
    assert problem.startswith("grid point ") and "ConvNetBN cannot be unrolled by trajectory matching" in problem
    raw["grid"]["pool"] = ["ConvNetW32", "MLP"]
    assert {p.config.pool.name for p in parse_spec(raw).points} == {"ConvNetW32=1.0", "MLP=1.0"}


# ---- each key a flag of `raydd distill` -------------------------------------------------------------
def test_every_key_of_every_method_is_a_distill_flag():
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from raydd.core.distill.methods import method_keys

    shown = CliRunner().invoke(cli, ["distill", "--help"], terminal_width=200).output
    missing = [key for key in method_keys() if f"--{key.replace('_', '-')} " not in shown]
    assert not missing and "MTT: The experts' batch size." in shown and "--zca / --no-zca" in shown


def test_a_registered_method_gets_its_flag_with_no_change_to_the_command_line(shift_method):
    import click
    from click.testing import CliRunner

    from raydd.cli.method_flags import given_keys, method_options

    seen = {}

    @click.command()
    @method_options()
    def command(**opts):
        seen.update(given_keys(opts, "shift"))

    result = CliRunner().invoke(command, ["--shift", "0.5"])
    assert result.exit_code == 0, result.output
    assert seen == {"shift": 0.5}


def test_dc_keys_given_as_flags_reach_the_set(tmp_path):
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from raydd.core.artifact import load_synset

    args = ["distill", "--pool", "ConvNetW32", "--iterations", "1", "--batch-real", "8", "--batch-train", "5",
            "--momentum-net", "0.3", "--bn-batch-per-class", "2", "--out", str(tmp_path / "set")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = load_synset(tmp_path / "set").meta["config"]
    assert (config["batch_train"], config["momentum_net"], config["bn_batch_per_class"]) == (5, 0.3, 2)
