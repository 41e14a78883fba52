"""A label outside [0, classes), wherever labels come from outside (a raydd set, a set of another
code, a sweep's `evaluation.sets`, a dataset's files, a caller's tensors): one line naming the
label and its index, before anything counts or indexes by it."""

from __future__ import annotations

import re

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import raydd.core.evaluate.protocol as protocol
from raydd.cli.main import cli
from raydd.core.artifact import IMAGES_FILE, ArtifactError, load_synset, save_synset
from raydd.core.datasets import DATASETS, load_dataset
from raydd.core.datasets.loading import check_matches
from raydd.core.datasets.sources import RawSplits
from raydd.core.distill import DistillConfig, Distiller
from raydd.core.evaluate import random_real
from raydd.core.evaluate.protocol import check_images
from raydd.core.foreign import ForeignSetError, load_foreign_set
from raydd.spec import SpecError, load_spec
from sweep_support import tiny_sweep, write_sweep
from test_foreign_sets import save_dc

INFO = DATASETS.get("digits").info
BAD = [(-1, 7), (10, 13)]  # (label, index): a negative label, and one past digits' last class


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(protocol, "train_members", lambda *a, **k: pytest.fail("training started"))


def _with_label(labels: torch.Tensor, label: int, index: int) -> torch.Tensor:
    labels = labels.clone()
    labels[index] = label
    return labels


def _named(label: int, index: int, classes: str = "classes") -> str:
    return f"label {label} at index {index} is not one of the 10 {classes} (0..9)"


def _whole(message: str) -> str:
    return f"^{re.escape(message)}$"


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.stderr


@pytest.mark.parametrize("label, index", BAD)
def test_a_raydd_set_with_a_label_outside_the_classes_is_one_line_naming_it(tmp_path, data, no_training,
                                                                            label, index):
    from raydd.core.artifact import SyntheticSet, build_meta

    images, labels = random_real(data, 2, seed=0)
    directory = save_synset(SyntheticSet(images, labels, build_meta(DistillConfig(ipc=2, iterations=1), INFO, 1, 1.0, [1.0])),
                            tmp_path / "set")
    save_file({"images": images.contiguous(), "labels": _with_label(labels, label, index)}, str(directory / IMAGES_FILE))
    with pytest.raises(ArtifactError, match=re.escape(f"{directory}: {_named(label, index)}")):
        load_synset(directory)
    line = _one_line(CliRunner().invoke(cli, ["evaluate", str(directory), "--students", "MLP", "--epochs", "1"]))
    assert _named(label, index) in line


@pytest.mark.parametrize("label, index", BAD)
def test_a_foreign_set_with_a_label_outside_the_classes_is_one_line_naming_it(tmp_path, data, no_training,
                                                                              label, index):
    images, labels = random_real(data, 2, seed=0)
    path = save_dc(tmp_path / "res.pt", [(images, _with_label(labels, label, index))])
    with pytest.raises(ForeignSetError, match=re.escape(_named(label, index, "classes of digits"))):
        load_foreign_set(path, INFO)
    line = _one_line(CliRunner().invoke(cli, ["evaluate", str(path), "--dataset", "digits", "--students", "MLP",
                                              "--epochs", "1"]))
    assert _named(label, index, "classes of digits") in line

    raw = tiny_sweep("labelled", str(tmp_path / "runs"), seeds=(0,))
    raw["evaluation"]["sets"] = [str(path)]
    with pytest.raises(SpecError) as caught:
        load_spec(write_sweep(tmp_path, raw))
    [problem] = caught.value.problems
    assert problem.startswith("evaluation.sets[0]: ") and _named(label, index, "classes of digits") in problem


@pytest.mark.parametrize("label, index", BAD)
def test_labels_handed_to_the_library_are_checked_by_the_same_words(data, label, index):
    images, labels = random_real(data, 2, seed=0)
    bad = _with_label(labels, label, index)
    with pytest.raises(ValueError, match=_whole("the set's labels, for digits: " + _named(label, index))):
        check_images(images, bad, INFO)
    raw = RawSplits(images, bad, images, labels)
    with pytest.raises(ValueError, match=_whole("digits train files: " + _named(label, index))):
        check_matches(raw, INFO)
    from raydd.core.datasets.types import Dataset, Split

    odd = Dataset(INFO, Split(data.train.images, _with_label(data.train.labels, label, index)), data.val, data.test,
                  data.val_size, data.split_seed)
    with pytest.raises(ValueError, match=_whole("the training labels: " + _named(label, index))):
        Distiller(DistillConfig(ipc=1, iterations=1, pool="ConvNetW32"), odd)
    with pytest.raises(ValueError, match=_whole(_named(label, index))):
        random_real(odd, 1, seed=0)
