"""compile=True: the compiled passes give the eager run's images, and a broken compiler fails early."""

import shutil
import sysconfig
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.datasets import load_dataset
from raydd.core.distill import DistillConfig, Distiller
from raydd.core.distill import compiled as compiled_module

# Inductor on CPU builds C++ against the Python headers (Debian: apt-get install g++ python3-dev).
HAS_CPP_TOOLCHAIN = bool(shutil.which("g++")) and (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()

SMALL = dict(pool="ConvNetW32", batch_real=16, bn_batch_per_class=4, seed=3)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _images_after(config, data, steps):
    d = Distiller(config, data, "cpu")
    for _ in range(steps):
        d.step()
    return d.images.detach()


@pytest.mark.skipif(not HAS_CPP_TOOLCHAIN, reason="no g++ or Python headers for torch.compile on CPU")
@pytest.mark.parametrize("method, loops", [("dc", dict(outer_loop=2, inner_loop=2)), ("dm", {})])
def test_compiled_run_gives_the_eager_images(digits, method, loops):
    config = DistillConfig(method=method, ipc=2, iterations=2, **SMALL, **loops)
    eager = _images_after(config, digits, 2)
    fast = _images_after(DistillConfig(**{**config.to_dict(), "compile": True}), digits, 2)
    moved = (eager - _images_after(DistillConfig(**{**config.to_dict(), "iterations": 0}), digits, 0)).abs().max()
    assert moved > 1e-2  # the images did change, so agreeing below is not trivial
    # Kernels sum in another order: float rounding, far below how far two steps move the images.
    torch.testing.assert_close(fast, eager, rtol=1e-3, atol=1e-4)


def test_compile_flag_is_recorded_and_validated():
    assert DistillConfig(compile=True).to_dict()["compile"] is True
    assert DistillConfig(compile=False).to_dict()["compile"] is False
    with pytest.raises(ValueError, match="compile must be true or false"):
        DistillConfig(compile="yes")


def test_missing_compiler_fails_before_any_step(digits, broken_cpp_compiler):
    with pytest.raises(compiled_module.CompileUnavailable, match="cannot build kernels on cpu"):
        Distiller(DistillConfig(compile=True, **SMALL), digits, "cpu")


def test_cli_reports_missing_compiler_without_writing(tmp_path, broken_cpp_compiler):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["distill", "--iterations", "1", "--pool", "ConvNetW32",
                                      "--compile", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 1
    assert "cannot build kernels on cpu" in result.output
    assert not out.exists() and not (tmp_path / ".run.checkpoint").exists()


def test_auto_compiles_only_cpu_runs_long_enough_to_pay_for_it(monkeypatch):
    probed = []
    monkeypatch.setattr(compiled_module, "require_compile", probed.append)  # a working compiler
    per_arch = compiled_module.AUTO_ITERATIONS_PER_ARCH
    assert compiled_module.compiles(None, per_arch, 1, "cpu") and probed == ["cpu"]
    assert not compiled_module.compiles(None, per_arch - 1, 1, "cpu")
    assert not compiled_module.compiles(None, 2 * per_arch - 1, 2, "cpu")  # one compilation per arch
    assert not compiled_module.compiles(None, 100 * per_arch, 1, "cuda")  # not measured on GPUs yet
    assert not compiled_module.compiles(False, 100 * per_arch, 1, "cpu")
    assert compiled_module.compiles(True, 1, 1, "cpu")
    assert probed == ["cpu", "cpu"]


def test_auto_runs_eager_where_the_compiler_is_broken(broken_cpp_compiler):
    with pytest.warns(RuntimeWarning, match=r"compile=auto runs eager here \(compile=True, but torch.compile cannot"):
        assert not compiled_module.compiles(None, 10**6, 1, "cpu")


def test_auto_is_the_default_and_short_runs_stay_eager(digits):
    assert DistillConfig().settings.compile is None and DistillConfig(compile="auto") == DistillConfig()
    d = Distiller(DistillConfig(iterations=3, **SMALL), digits, "cpu")
    assert d.compiled is False and d.synthetic_set().meta["compiled"] is False
