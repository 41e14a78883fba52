import copy
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from raydd.core.archs import build_net
from raydd.core.datasets import load_dataset
from raydd.core.distill import (
    DISTANCES,
    METHODS,
    DistillConfig,
    Distiller,
    NonFiniteError,
    distill,
    loops_for_ipc,
    save_checkpoint,
)
from raydd.core.distill.loop import checkpoint_path
from raydd.core.pool import PoolSpec

SMALL = dict(pool="ConvNetW32", batch_real=16, bn_batch_per_class=4)
FLOAT_FIELDS = ("lr_img", "momentum_img", "lr_net", "momentum_net")  # shared, then DC's own


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def cfg(**kw):
    return DistillConfig(**{**SMALL, **kw})


def run(config, data, steps=None):
    d = Distiller(config, data, "cpu")
    for _ in range(config.iterations if steps is None else steps):
        d.step()
    return d


# ---- configuration -----------------------------------------------------------------------------
def test_methods_registered():
    assert METHODS.names() == ["dc", "dsa", "dm", "mtt"]


@pytest.mark.parametrize("first", ["raydd.core.distill.config", "raydd.core.distill.dc"])
def test_a_config_is_valid_whichever_module_is_imported_first(first):
    """Methods are registered where the registry is defined, not by a package import's side effect."""
    script = (f"import {first}\n"
              "from raydd.core.distill.config import DistillConfig\n"
              "from raydd.core.distill.methods import METHODS\n"
              "print([(m, DistillConfig(method=m).lr_img) for m in METHODS.names()])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('dc', 0.1), ('dsa', 0.1), ('dm', 1.0), ('mtt', 1000.0)]"


def test_defaults_resolve_per_method_and_ipc():
    assert cfg(method="dc").lr_img == 0.1 and cfg(method="dm").lr_img == 1.0
    assert cfg(method="dc").init == "noise" and cfg(method="dm").init == "real"
    assert (cfg(ipc=10).settings.outer_loop, cfg(ipc=10).settings.inner_loop) == (10, 50)
    assert cfg(ipc=10, outer_loop=3, inner_loop=2).settings.outer_loop == 3
    assert [loops_for_ipc(i) for i in (1, 5, 10, 15, 50, 200)] == [
        (1, 1), (1, 1), (10, 50), (10, 50), (50, 10), (50, 10)]
    c = cfg(method="dsa", ipc=2)
    assert DistillConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"ipc": 0}, "ipc must be an integer >= 1"),
        ({"iterations": -1}, "iterations must be an integer >= 0"),
        ({"method": "kip"}, "unknown distillation method 'kip'"),
        ({"distance": "l1"}, "unknown gradient distance 'l1'"),
        ({"init": "zeros"}, "unknown init 'zeros'"),
        ({"precision": "fp16"}, "unknown precision 'fp16'; known: fp32, bf16"),
        ({"lr_img": 0.0}, "lr_img must be > 0"),
        ({"momentum_img": 1.0}, "momentum_img"),
        ({"batch_real": 0}, "batch_real"),
        ({"pool": "ConvNet=0.5"}, "sum to 0.5"),
    ],
)
def test_bad_config_values(kw, message):
    with pytest.raises(ValueError, match=message):
        cfg(**kw)


@pytest.mark.parametrize("name", FLOAT_FIELDS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_settings_are_refused(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be a finite number, got {value}$"):
        cfg(**{name: value})


def test_unknown_config_field():
    with pytest.raises(ValueError, match="unknown DistillConfig fields: colour"):
        DistillConfig.from_dict({"colour": 1})


def test_checks_against_the_data_come_before_any_work(digits):
    smallest = min(torch.bincount(digits.train.labels).tolist())
    # the one rule of raydd.core.datasets.class_sizes, whatever the initialisation (tests/test_class_sizes.py)
    for init in ("real", "noise"):
        with pytest.raises(ValueError, match=f"ipc {smallest + 1} is more than the {smallest} training images"):
            Distiller(cfg(ipc=smallest + 1, init=init), digits)
    with pytest.raises(ValueError, match="dataset 'cifar10' but the data is 'digits'"):
        Distiller(cfg(dataset="cifar10"), digits)
    Distiller(cfg(ipc=smallest, init="real", iterations=1), digits)


# ---- distances ---------------------------------------------------------------------------------
def test_dc_distance_ignores_1d_params_and_is_zero_for_equal_gradients():
    g = [torch.randn(2, 4, 3, 3, 3), torch.randn(2, 4)]
    other = [torch.randn(2, 4, 3, 3, 3), torch.randn(2, 4)]
    dc = DISTANCES.get("dc")
    assert torch.allclose(dc(g, g), torch.zeros(2), atol=1e-5)
    moved_bias = [g[0], other[1]]
    assert torch.allclose(dc(moved_bias, g), torch.zeros(2), atol=1e-5)
    # 4 output units, each at most 2 away
    assert (dc(other, g) > 0).all() and (dc(other, g) <= 8).all()
    assert torch.allclose(dc([-g[0], g[1]], g), torch.full((2,), 8.0), atol=1e-4)


def test_mse_and_cos_distances():
    g = [torch.ones(1, 2, 2), torch.ones(1, 3)]
    h = [torch.zeros(1, 2, 2), 2 * torch.ones(1, 3)]
    assert DISTANCES.get("mse")(g, h).item() == pytest.approx(4 + 3)
    assert DISTANCES.get("cos")(g, [2 * t for t in g]).item() == pytest.approx(0, abs=1e-5)


# ---- learning ----------------------------------------------------------------------------------
def _fixed_net(data):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        return build_net("ConvNetW32", 1, data.info.num_classes, data.info.image_size)


def gradient_matching_loss(images, data, net, ipc):
    """DC distance, summed over classes, on a fixed net with all real images of each class."""
    params = list(net.parameters())
    total = 0.0
    for c in range(data.info.num_classes):
        real = data.train.images[data.train.labels == c]
        g_real = torch.autograd.grad(F.cross_entropy(net(real), torch.full((len(real),), c)), params)
        syn = images[c * ipc:(c + 1) * ipc]
        g_syn = torch.autograd.grad(F.cross_entropy(net(syn), torch.full((ipc,), c)), params)
        total += DISTANCES.get("dc")([g[None] for g in g_syn], [g[None] for g in g_real]).item()
    return total


def embedding_loss(images, data, net, ipc):
    with torch.no_grad():
        return sum(
            ((net.embed(data.train.images[data.train.labels == c]).mean(0)
              - net.embed(images[c * ipc:(c + 1) * ipc]).mean(0)) ** 2).sum().item()
            for c in range(data.info.num_classes))


@pytest.mark.parametrize("method, measure, iterations", [
    ("dc", gradient_matching_loss, 15),
    ("dsa", gradient_matching_loss, 15),
    ("dm", embedding_loss, 15),
])
def test_matching_loss_on_a_fixed_net_falls(digits, method, measure, iterations):
    config = cfg(method=method, ipc=1, iterations=iterations, init="noise", seed=0)
    d = Distiller(config, digits)
    net = _fixed_net(digits)
    before = measure(d.images.detach(), digits, net, 1)
    for _ in range(iterations):
        d.step()
    after = measure(d.images.detach(), digits, net, 1)
    assert after < 0.9 * before, (before, after)
    assert len(d.losses) == iterations and d.iteration == iterations


# ---- reproducibility ---------------------------------------------------------------------------
def test_same_seed_same_images_other_seed_other_images(digits):
    a = run(cfg(method="dsa", ipc=2, iterations=2, seed=5), digits)
    b = run(cfg(method="dsa", ipc=2, iterations=2, seed=5), digits)
    c = run(cfg(method="dsa", ipc=2, iterations=2, seed=6), digits)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_one_arch_pool_is_plain_dc_and_pool_rng_is_separate(digits):
    plain = run(cfg(pool=PoolSpec.single("ConvNetW32"), iterations=3, seed=1), digits)
    parsed = run(cfg(pool=PoolSpec.parse("ConvNetW32=1.0"), iterations=3, seed=1), digits)
    # A two-arch pool whose second weight is 0 draws from its generator every iteration,
    # and must still reproduce the plain run exactly.
    drawing = run(cfg(pool=PoolSpec.parse("ConvNetW32=1.0,ConvNetW64=0"), iterations=3, seed=1), digits)
    assert torch.equal(plain.images, parsed.images)
    assert torch.equal(plain.images, drawing.images)
    assert drawing.archs_drawn == ["ConvNetW32"] * 3


def test_pool_draws_and_warmup_reach_the_distiller(digits):
    config = cfg(pool=PoolSpec.parse("ConvNetW32=0.5,MLP=0.5", warmup=2), iterations=8, batch_real=4)
    d = run(config, digits)
    assert d.archs_drawn[:2] == ["ConvNetW32", "ConvNetW32"]
    assert set(d.archs_drawn[2:]) == {"ConvNetW32", "MLP"}


def test_distiller_leaves_the_global_rng_alone(digits):
    state = torch.get_rng_state()
    run(cfg(iterations=2), digits)
    assert torch.equal(torch.get_rng_state(), state)


def test_bf16_is_opt_in_and_stays_close_to_fp32(digits):
    fp32 = run(cfg(method="dsa", ipc=2, iterations=2, seed=4), digits)
    bf16 = run(cfg(method="dsa", ipc=2, iterations=2, seed=4, precision="bf16"), digits)
    assert cfg().settings.precision == "fp32" and bf16.images.dtype == torch.float32
    assert not torch.equal(fp32.images, bf16.images)  # the arithmetic did change
    moved = (fp32.images - run(cfg(method="dsa", ipc=2, iterations=0, seed=4), digits).images).abs().mean()
    assert (fp32.images - bf16.images).abs().mean() < 0.25 * moved  # measured: 0.14
    assert bf16.losses == pytest.approx(fp32.losses, rel=0.02)


def test_batchnorm_net_runs_and_changes_images(digits):
    d = Distiller(cfg(pool="ConvNetBN", ipc=2, iterations=1, outer_loop=2, inner_loop=1,
                      batch_real=4), digits)
    start = d.images.detach().clone()
    d.step()
    assert torch.isfinite(d.images).all() and not torch.equal(start, d.images)


# ---- checkpoints -------------------------------------------------------------------------------
RESUME_CFG = dict(method="dsa", ipc=2, iterations=5, outer_loop=2, inner_loop=2, seed=2,
                  pool="ConvNetW32=0.5,MLP=0.5")


def test_state_dict_resume_equals_uninterrupted(digits):
    whole = run(cfg(**RESUME_CFG), digits)
    first = run(cfg(**RESUME_CFG), digits, steps=2)
    second = Distiller(cfg(**RESUME_CFG), digits)
    second.load_state_dict(first.state_dict())
    for _ in range(3):
        second.step()
    assert torch.allclose(whole.images, second.images, atol=1e-6)
    assert whole.losses == pytest.approx(second.losses, abs=1e-5)
    assert whole.archs_drawn == second.archs_drawn


class Interrupt(Exception):
    pass


def test_distill_resumes_from_its_checkpoint(digits, tmp_path):
    whole = distill(cfg(**RESUME_CFG), digits, "cpu")

    def stop_at_3(p):
        if p.iteration == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        distill(cfg(**RESUME_CFG), digits, "cpu", checkpoint_dir=tmp_path, checkpoint_every=2,
                progress=stop_at_3)
    assert torch.load(checkpoint_path(tmp_path), weights_only=True)["iteration"] == 2
    seen = []
    resumed = distill(cfg(**RESUME_CFG), digits, "cpu", checkpoint_dir=tmp_path, checkpoint_every=2,
                      progress=lambda p: seen.append(p.iteration))
    assert seen == [3, 4, 5]
    assert torch.allclose(whole.images, resumed.images, atol=1e-6)
    assert resumed.meta["iterations_done"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp files left


class MemoryStore:
    """A checkpoint store in memory, as a Tune trial's store is one outside the core."""

    def __init__(self, state=None):
        self.state, self.saved = state, []

    def load(self):
        return self.state

    def save(self, state, progress):
        self.state = copy.deepcopy(state)  # the optimiser's buffers in `state` live on
        self.saved.append((progress.iteration, progress.checkpointed, progress.resumed_from))


def test_the_loop_serves_any_checkpoint_store(digits):
    config = cfg(**{**RESUME_CFG, "iterations": 4})
    whole = distill(config, digits)
    first = MemoryStore()
    seen = []
    with pytest.raises(Interrupt):
        distill(config, digits, store=first, checkpoint_every=2,
                progress=lambda p: seen.append((p.iteration, p.checkpointed)) or p.iteration < 3 or _raise())
    assert first.saved == [(2, True, 0)] and seen == [(1, False), (2, True), (3, False)]
    second = MemoryStore(first.state)
    resumed = distill(config, digits, store=second, checkpoint_every=2)
    assert second.saved == [(4, True, 2)]  # the last iteration is always kept
    assert torch.equal(whole.images, resumed.images)
    with pytest.raises(ValueError, match="not both"):
        distill(config, digits, store=second, checkpoint_dir="somewhere")


def _raise():
    raise Interrupt


def test_checkpoint_of_another_config_or_corrupt_is_refused(digits, tmp_path):
    d = run(cfg(iterations=1), digits)
    save_checkpoint(d.state_dict(), tmp_path)
    with pytest.raises(ValueError, match="^the checkpoint was written by another configuration: seed 0 there, 9 here$"):
        distill(cfg(iterations=1, seed=9), digits, checkpoint_dir=tmp_path)
    checkpoint_path(tmp_path).write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"checkpoint .* is not a readable torch file \(Unsupported operand 103\)$"):
        distill(cfg(iterations=1), digits, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="checkpoint_every"):
        distill(cfg(iterations=1), digits, checkpoint_every=0)


@pytest.mark.parametrize("lr_img, what", [(1e20, "the synthetic images hold inf or nan"),
                                          (1e30, "the loss is nan")])
def test_non_finite_loss_stops_with_the_iteration(digits, tmp_path, lr_img, what):
    """Images stepped far too far: iteration 2 turns the images (or the loss) non-finite. The run
    stops naming it, and the checkpoint of iteration 1 stays, finite and resumable."""
    config = cfg(lr_img=lr_img, iterations=4)
    with pytest.raises(NonFiniteError, match=f"^distillation diverged at iteration 2: {what};"):
        distill(config, digits, checkpoint_dir=tmp_path, checkpoint_every=1)
    state = torch.load(checkpoint_path(tmp_path), weights_only=True)
    assert state["iteration"] == 1 and torch.isfinite(state["images"]).all()
    seen = []
    with pytest.raises(NonFiniteError, match="at iteration 2"):  # resumed at 1: the same step again
        distill(config, digits, checkpoint_dir=tmp_path, checkpoint_every=1, progress=seen.append)
    assert seen == []


def test_cli_prints_a_diverged_run_as_one_line(tmp_path):
    from click.testing import CliRunner

    from raydd.cli.main import cli

    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["distill", "--iterations", "3", "--pool", "ConvNetW32", "--batch-real", "8",
                                      "--lr-img", "1e30", "--checkpoint-every", "1", "--device", "cpu",
                                      "--out", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: distillation diverged at iteration 2: the loss is nan")
    assert "Traceback" not in result.output and "Usage" not in result.output
    assert not out.exists() and (tmp_path / ".run.checkpoint" / "checkpoint.pt").exists()


def test_the_set_records_the_validation_carve_it_was_distilled_beside():
    data = load_dataset("digits", val_size=0.2, split_seed=5)
    cfg = DistillConfig(dataset="digits", method="dm", ipc=1, iterations=0, batch_real=8)
    meta = Distiller(cfg, data, "cpu").synthetic_set().meta
    assert (meta["dataset"]["val_size"], meta["dataset"]["split_seed"]) == (0.2, 5)
