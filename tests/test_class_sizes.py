"""One rule for an ipc against a dataset's class sizes, asked by `raydd distill`, the Distiller,
`random_real` and sweep validation alike; a sweep's check runs before Ray starts, with its place."""

from __future__ import annotations

import pytest
import ray
from click.testing import CliRunner

import raydd.core.distill as distill_module
from raydd.cli.main import cli
from raydd.core.datasets import DATASETS, class_sizes, load_dataset, sizes_of
from raydd.core.distill import DistillConfig, Distiller
from raydd.core.evaluate.sets import random_real
from raydd.spec import SpecError, load_spec, parse_spec
from sweep_support import tiny_sweep, write_sweep

DIGITS = DATASETS.get("digits").info
SMALLEST = 125  # digits' smallest training class ('8') after the default 10 % validation carve
RULE = (f"is more than the {SMALLEST} training images of digits's smallest class ('8', after the "
        "validation split); a set holds fewer images of a class than the class has")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started for a refused sweep"))


def _problems(raw: dict, **kw) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, **kw)
    return caught.value.problems


@pytest.mark.parametrize("val_size", [0.1, 0.25, 500])
def test_class_sizes_are_those_of_the_loaded_training_split(val_size):
    loaded = load_dataset("digits", val_size=val_size, split_seed=3)
    assert class_sizes("digits", val_size=val_size) == sizes_of(loaded.train.labels, DIGITS.num_classes)
    assert min(class_sizes("digits")) == SMALLEST


def test_one_ipc_is_refused_everywhere_in_the_same_words(digits, monkeypatch):
    ipc = SMALLEST + 1
    monkeypatch.setattr(distill_module, "distill", lambda *a, **k: pytest.fail("distillation started"))
    result = CliRunner().invoke(cli, ["distill", "--ipc", str(ipc), "--iterations", "1", "--out", "unused"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and f"--ipc {ipc} {RULE}" in result.output
    for init in ("noise", "real"):  # noise draws no real image, but the set would outnumber its data
        with pytest.raises(ValueError, match=f"^ipc {ipc} is more than the {SMALLEST} training images"):
            Distiller(DistillConfig(ipc=ipc, init=init, iterations=1, pool="ConvNetW32"), digits)
    with pytest.raises(ValueError, match=f"^ipc {ipc} is more than the {SMALLEST} training images"):
        random_real(digits, ipc, seed=0)
    raw = tiny_sweep("fits", "unused")
    raw["grid"]["ipc"] = [1, ipc]
    assert _problems(raw) == [f"grid.ipc[1]: {ipc} {RULE}"]

    raw["grid"]["ipc"] = [SMALLEST]  # the smallest class's size itself fits, everywhere
    assert parse_spec(raw).points[0].config.ipc == SMALLEST
    Distiller(DistillConfig(ipc=SMALLEST, init="real", iterations=1, pool="ConvNetW32"), digits)
    assert len(random_real(digits, SMALLEST, seed=0)[1]) == SMALLEST * DIGITS.num_classes


def test_a_sweep_whose_ipc_exceeds_the_smallest_class_is_refused_before_ray(tmp_path, no_ray):
    raw = tiny_sweep("too-many", str(tmp_path / "runs"))
    del raw["grid"]["ipc"]
    raw["distill"]["ipc"] = 200
    result = CliRunner().invoke(cli, ["sweep", "submit", str(write_sweep(tmp_path, raw))])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"distill.ipc: 200 {RULE} (line 9)" in result.output
    assert not (tmp_path / "runs").exists()


def test_a_validation_carve_that_leaves_a_class_empty_or_takes_everything_is_a_problem():
    raw = tiny_sweep("carved", "unused")
    raw["dataset"]["val_size"] = 1436  # of digits' 1,437 training images: nine classes keep none
    assert _problems(raw) == ["dataset.val_size: 1436 leaves class(es) [0, 1, 2, 3, 4, 6, 7, 8, 9] of digits "
                              "no training image"]
    raw["dataset"]["val_size"] = 1437
    assert _problems(raw) == ["dataset.val_size: val_size 1437 leaves no training data (only 1437 examples)"]


def test_a_sweep_that_runs_here_needs_its_data_here_before_ray(tmp_path, no_ray):
    raw = tiny_sweep("elsewhere", str(tmp_path / "runs"))
    raw["dataset"] = {"name": "mnist", "data_dir": str(tmp_path / "no-mnist-here")}
    path = write_sweep(tmp_path, raw)
    result = CliRunner().invoke(cli, ["sweep", "submit", str(path)])  # a local Ray: its trials run here
    assert result.exit_code == 2 and "dataset: mnist: data not found" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()
    assert load_spec(path).name == "elsewhere"  # the data may be on the cluster's nodes: not checked
    with pytest.raises(SpecError, match=r"dataset: mnist: data not found .* \(the sweep's trials run on this machine\)"):
        load_spec(path, data="required")
