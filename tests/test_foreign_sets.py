"""Synthetic sets made by other codes: each format read from files written here in that format
(DC's res_*.pt, a plain image_syn/label_syn dict, MTT's pair, an image folder of PNGs), every
refusal a one-line `raydd evaluate` error before training, and one evaluation end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import raydd.core.evaluate.protocol as protocol
from raydd.cli.main import cli
from raydd.core.datasets import DATASETS, denormalize, load_dataset
from raydd.core.evaluate import random_real
from raydd.core.foreign import ForeignSetError, load_foreign_set

INFO = DATASETS.get("digits").info
QUICK = ["--students", "MLP", "--seeds", "1", "--epochs", "2", "--device", "cpu", "--teacher", "MLP",
         "--temperatures", "2"]


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def real(data):
    """Two draws of 2 real training images per class, normalised as raydd's sets are."""
    return [random_real(data, 2, seed) for seed in (0, 1)]


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the set was checked")

    monkeypatch.setattr(protocol, "train_members", refuse)


def pixels(images):
    return denormalize(images.clone(), INFO)


def save_dc(path: Path, experiments) -> Path:
    """As DatasetCondensation's main.py saves: a list of [image_syn, label_syn] per experiment,
    and its accuracies as numpy floats."""
    accs = {"ConvNet": [np.float64(0.9 - 0.01 * i) for i in range(len(experiments))]}
    torch.save({"data": [[i.clone(), l.clone()] for i, l in experiments], "accs_all_exps": accs}, path)
    return path


def save_mtt(directory: Path, images, labels) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(images.clone(), directory / "images_best.pt")
    torch.save(labels.clone(), directory / "labels_best.pt")
    return directory


def save_folder(directory: Path, images, labels, name=str, size=None) -> Path:
    """One sub-folder per class, one PNG per image (uint8 pixels)."""
    for index, (image, label) in enumerate(zip(pixels(images), labels.tolist())):
        folder = directory / name(label)
        folder.mkdir(parents=True, exist_ok=True)
        png = Image.fromarray((image[0] * 255).round().to(torch.uint8).numpy(), mode="L")
        (png.resize((size, size)) if size else png).save(folder / f"{index:04d}.png")
    return directory


def zca_whitened(images, data, eps=0.1):
    """MTT's --zca: whitening fitted on the real training images (kornia's ZCAWhitening, eps 0.1)."""
    x = data.train.images.flatten(1).double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    values, vectors = torch.linalg.eigh(cov)
    transform = vectors @ torch.diag((values.clamp(min=0) + eps).rsqrt()) @ vectors.T
    return ((images.flatten(1).double() - mean) @ transform).float().view_as(images)


def evaluate(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stdout == "", result.output
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    return result.stderr


# ---- each format, written as its code writes it ------------------------------------------------
def test_a_dc_file_with_two_experiments_reads_the_chosen_one(tmp_path, real):
    path = save_dc(tmp_path / "res_DC_digits_ConvNet_2ipc.pt", real)
    first = load_foreign_set(path, INFO)
    assert torch.equal(first.images, real[0][0]) and torch.equal(first.labels, real[0][1])
    assert (first.format, first.ipc, first.normalized, first.experiment, first.experiments) == ("dc", 2, "yes", 0, 2)
    assert first.name == "res_DC_digits_ConvNet_2ipc.pt-exp0" and "experiment 0 of 2 (--experiment 0..1)" in first.summary()
    second = load_foreign_set(path, INFO, experiment=1)
    assert torch.equal(second.images, real[1][0]) and second.name.endswith("-exp1")
    with pytest.raises(ForeignSetError, match=r"holds 2 experiment\(s\), 0..1; --experiment 2 is not one"):
        load_foreign_set(path, INFO, experiment=2)


def test_a_dc_file_of_one_experiment_is_named_as_the_file(tmp_path, real):
    path = save_dc(tmp_path / "res_DM_digits_ConvNet_2ipc.pt", real[:1])
    assert load_foreign_set(path, INFO).name == "res_DM_digits_ConvNet_2ipc.pt"


def test_a_plain_dict_with_one_hot_labels_reads_as_hard_labels(tmp_path, real):
    images, labels = real[0]
    torch.save({"image_syn": images, "label_syn": torch.nn.functional.one_hot(labels, 10).float()}, tmp_path / "s.pt")
    foreign = load_foreign_set(tmp_path / "s.pt", INFO)
    assert foreign.format == "tensors" and torch.equal(foreign.labels, labels) and foreign.labels.dtype == torch.int64


def test_an_mtt_pair_of_pixels_is_normalised_like_the_dataset(tmp_path, real):
    images, labels = real[0]
    directory = save_mtt(tmp_path / "mtt_run", pixels(images), labels)
    for given in (directory, directory / "images_best.pt"):  # the directory, or the images file
        foreign = load_foreign_set(given, INFO)
        assert (foreign.format, foreign.name, foreign.normalized, foreign.stated) == ("mtt", "mtt_run", "no", "auto")
        torch.testing.assert_close(foreign.images, images, atol=1e-5, rtol=0)
    stated = load_foreign_set(directory, INFO, normalized="no")
    assert stated.stated == "no" and torch.allclose(stated.images, images, atol=1e-5)


def test_an_mtt_pair_saved_normalised_is_taken_as_it_is(tmp_path, real):
    images, labels = real[0]
    foreign = load_foreign_set(save_mtt(tmp_path / "m", images, labels), INFO)
    assert foreign.normalized == "yes" and torch.equal(foreign.images, images)


def test_an_image_folder_of_pngs_reads_every_class(tmp_path, real):
    images, labels = real[0]
    foreign = load_foreign_set(save_folder(tmp_path / "pngs", images, labels), INFO)
    assert (foreign.format, foreign.ipc, foreign.normalized) == ("image-folder", 2, "no")
    assert sorted(foreign.labels.tolist()) == sorted(labels.tolist())
    order = torch.argsort(labels, stable=True)  # folders are read in class order
    # 8-bit PNG pixels: within half a grey level of the originals, once normalised
    torch.testing.assert_close(foreign.images, images[order], atol=0.5 / 255 / INFO.std[0] + 1e-5, rtol=0)


def test_an_image_folder_may_name_classes_by_their_names(tmp_path, real):
    info = DATASETS.get("cifar10").info
    images = torch.rand(10, 3, 32, 32)
    for label, image in enumerate(images):
        (tmp_path / "set" / info.class_names[label]).mkdir(parents=True)
        rgb = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(rgb, mode="RGB").save(tmp_path / "set" / info.class_names[label] / "a.png")
    foreign = load_foreign_set(tmp_path / "set", info)
    assert foreign.labels.tolist() == list(range(10)) and foreign.images.shape == (10, 3, 32, 32)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"image_syn": Payload(), "label_syn": torch.zeros(1)}, tmp_path / "evil.pt")
    with pytest.raises(ForeignSetError, match="is refused: it holds a reference to 'print', and loading that could run code"):
        load_foreign_set(tmp_path / "evil.pt", INFO)


# ---- refusals: one line, exit 1, before any training -------------------------------------------
def _ambiguous(tmp_path, real, data):
    images, labels = real[0]
    return save_mtt(tmp_path / "bright", torch.full_like(images, 0.95), labels)


def _wrong_size_png(tmp_path, real, data):
    return save_folder(tmp_path / "big", *real[0], size=32)


def _wrong_shape_tensor(tmp_path, real, data):
    torch.save({"image_syn": torch.randn(20, 3, 32, 32), "label_syn": real[0][1]}, tmp_path / "c.pt")
    return tmp_path / "c.pt"


def _hundred_classes(tmp_path, real, data):
    labels = torch.arange(100).repeat_interleave(2)
    return save_dc(tmp_path / "res.pt", [(torch.randn(200, 1, 28, 28), labels)])


def _nine_folders(tmp_path, real, data):
    images, labels = real[0]
    keep = labels < 9
    return save_folder(tmp_path / "nine", images[keep], labels[keep])


def _soft_scores(tmp_path, real, data):
    images, labels = real[0]
    scores = torch.rand(len(labels), 10) + 0.5  # soft labels are probability rows: scores are refused
    return save_mtt(tmp_path / "soft", images, scores)


def _zca(tmp_path, real, data):
    images, labels = real[0]
    return save_mtt(tmp_path / "zca", zca_whitened(images, data), labels)


def _labels_missing(tmp_path, real, data):
    directory = save_mtt(tmp_path / "half", *real[0])
    (directory / "labels_best.pt").unlink()
    return directory


@pytest.mark.parametrize("make, message", [
    (_ambiguous, "cannot tell whether .* is normalised .*pass --normalized yes .* or --normalized no"),
    (_wrong_size_png, r"is 32x32 pixels; digits images are 28x28"),
    (_wrong_shape_tensor, r"images have shape \[20, 3, 32, 32\]; digits images are \[1, 28, 28\]"),
    (_hundred_classes, r"label 10 at index 20 is not one of the 10 classes of digits \(0\.\.9\)"),
    (_nine_folders, "has 9 class folder\\(s\\); digits has 10 classes"),
    (_soft_scores, r"soft label row \d+ sums to \d+\.\d+, not 1"),
    (_zca, "looks ZCA-whitened"),
    (_labels_missing, "labels_best.pt is missing"),
    (lambda tmp_path, real, data: tmp_path / "nowhere.pt", "no synthetic set at .*nowhere.pt"),
])
def test_a_set_that_does_not_fit_is_one_line_before_training(tmp_path, real, data, no_training, make, message):
    path = make(tmp_path, real, data)
    line = one_line_error(evaluate(path, "--dataset", "digits", *QUICK))
    assert re.search(message, line), line


def test_stated_normalisation_that_the_values_contradict_is_refused(tmp_path, real, no_training):
    directory = save_mtt(tmp_path / "m", *real[0])  # saved normalised: values below 0
    assert "--normalized no, but the values run from" in one_line_error(
        evaluate(directory, "--dataset", "digits", "--normalized", "no", *QUICK))
    folder = save_folder(tmp_path / "pngs", *real[0])
    assert "image files hold pixels" in one_line_error(
        evaluate(folder, "--dataset", "digits", "--normalized", "yes", *QUICK))


def test_a_foreign_set_needs_its_dataset_named(tmp_path, real, no_training):
    result = evaluate(save_mtt(tmp_path / "m", *real[0]), *QUICK)
    assert result.exit_code == 2 and "--dataset" in result.stderr and "Traceback" not in result.output


def test_foreign_flags_are_refused_for_a_raydd_set(tmp_path, no_training):
    from raydd.core.artifact import save_synset
    from test_artifact import make_synset

    directory = save_synset(make_synset(), tmp_path / "set")
    result = evaluate(directory, "--experiment", "1", *QUICK)
    assert result.exit_code == 2 and "--experiment applies to sets made by other codes" in result.stderr


# ---- end to end --------------------------------------------------------------------------------
def test_evaluate_writes_foreign_rows_that_results_show_reads(tmp_path, real):
    from raydd.results import COLUMNS, load

    path = save_dc(tmp_path / "res_DC_digits_ConvNet_2ipc.pt", real)
    out = tmp_path / "rows"
    result = evaluate(path, "--dataset", "digits", "--experiment", "1", "--kd", "off,on", "--out", out,
                      "--random-real", 2, *QUICK)
    assert result.exit_code == 0, result.output
    assert "experiment 1 of 2" in result.stderr and "res_DC_digits_ConvNet_2ipc.pt-exp1 ipc2, kd on" in result.stdout
    df = load(str(out))
    assert list(df.columns) == list(COLUMNS) and len(df) == 4  # (foreign + random real) x kd x 1 seed
    rows = df[df["method"] == "foreign"]
    assert set(rows["trial_key"]) == {"res_DC_digits_ConvNet_2ipc.pt-exp1"} and len(rows) == 2
    assert set(rows["pool_name"]) == {"-"} and set(rows["ipc"]) == {2} and set(rows["dataset"]) == {"digits"}
    assert set(rows["synset_uri"]) == {str(path.resolve())}
    recipe = json.loads(rows["config_json"].iloc[0])
    assert recipe["foreign"] == {"format": "dc", "path": str(path.resolve()), "experiment": 1, "experiments": 2,
                                 "normalized": "yes", "stated": "auto"}
    shown = CliRunner().invoke(cli, ["results", "show", str(out)])
    assert shown.exit_code == 0 and "foreign" in shown.output and "random_real" in shown.output, shown.output


# ---- sweeps: evaluation.sets -------------------------------------------------------------------
def _sweep_with_sets(tmp_path, sets, name="withsets"):
    from sweep_support import tiny_sweep, write_sweep

    raw = tiny_sweep(name, str(tmp_path / "runs"), seeds=(0,))
    raw["evaluation"]["sets"] = sets
    return write_sweep(tmp_path, raw)


def test_sweep_sets_become_points_evaluated_like_baselines(tmp_path, real):
    from raydd.spec import load_spec

    dc = save_dc(tmp_path / "res_DC_digits_ConvNet_2ipc.pt", real)
    mtt = save_mtt(tmp_path / "mtt_run", pixels(real[0][0]), real[0][1])
    spec = load_spec(_sweep_with_sets(tmp_path, [str(mtt), {"path": str(dc), "experiment": 1, "normalized": True}]))
    assert [(p.trial_key, p.baseline, p.config.ipc) for p in spec.baselines] == [
        ("mtt_run", "foreign", 2), ("res_DC_digits_ConvNet_2ipc.pt-exp1", "foreign", 2)]
    assert spec.baselines[1].axes == {"set": str(dc), "normalized": "yes", "experiment": 1, "ipc": 2}
    without = load_spec(_sweep_with_sets(tmp_path, None))
    assert without.baselines == () and without.experiment_hash() != spec.experiment_hash()


def test_sweep_sets_that_do_not_fit_are_problems_with_their_places(tmp_path, real):
    from raydd.spec import SpecError, load_spec

    mtt = save_mtt(tmp_path / "a" / "same", *real[0])
    twin = save_mtt(tmp_path / "b" / "same", *real[0])
    wide = save_dc(tmp_path / "res.pt", [(torch.randn(200, 1, 28, 28), torch.arange(100).repeat_interleave(2))])
    sets = [str(mtt), str(twin), str(wide), {"path": str(mtt), "normalized": ["maybe"]}, {"file": "x"},
            str(tmp_path / "nowhere")]
    with pytest.raises(SpecError) as error:
        load_spec(_sweep_with_sets(tmp_path, sets))
    text = "\n".join(error.value.problems)
    assert "evaluation.sets[1]: is named 'same', as evaluation.sets[0] is" in text
    assert "evaluation.sets[2]: " in text and "label 10 at index 20 is not one of the 10 classes of digits (0..9)" in text
    assert "evaluation.sets[3].normalized: must be one of yes, no, auto, got ['maybe']" in text
    assert "evaluation.sets[4]" in text and "evaluation.sets[5]: no synthetic set at" in text
    assert len(error.value.problems) == 6


def test_a_sweep_evaluates_a_foreign_set_beside_its_distilled_one(tmp_path, real, ray_local):
    from sweep_support import expected_keys, row_keys

    from raydd.spec import load_spec
    from raydd.sweep.artifacts import load_synset_from
    from raydd.sweep.runner import load_results, run_sweep, sweep_status

    dc = save_dc(tmp_path / "res_DC_digits_ConvNet_2ipc.pt", real)
    spec = load_spec(_sweep_with_sets(tmp_path, [str(dc)]))
    outcome = run_sweep(spec, echo=lambda line: None)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    df = load_results(outcome.results)
    assert sorted(row_keys(df)) == sorted(expected_keys(spec)) and len(df) == 4  # (distilled + foreign) x kd
    rows = df[df["method"] == "foreign"]
    assert set(rows["trial_key"]) == {"res_DC_digits_ConvNet_2ipc.pt-exp0"} and set(rows["ipc"]) == {2}
    assert set(rows["pool_name"]) == {"-"} and set(rows["kd"]) == {False, True}
    stored = load_synset_from(rows["synset_uri"].iloc[0])
    assert torch.equal(stored.images, real[0][0]) and stored.meta["foreign"]["format"] == "dc"
    status = sweep_status("withsets", str(tmp_path / "runs"))
    assert (status.evaluations_done, status.evaluations_pending) == (4, 0)


def test_a_set_scores_the_same_as_a_dc_file_as_as_a_raydd_artifact(tmp_path, real, data):
    from raydd.core.artifact import SyntheticSet, build_meta, save_synset
    from raydd.core.distill import DistillConfig

    images, labels = real[0]
    meta = build_meta(DistillConfig(dataset="digits", ipc=2, iterations=0), INFO, 0, 0.0,
                      val_size=data.val_size, split_seed=data.split_seed)
    artifact = save_synset(SyntheticSet(images, labels, meta), tmp_path / "raydd_set")
    dc = save_dc(tmp_path / "res.pt", real[:1])
    accuracies = []
    for given in (artifact, dc):
        result = evaluate(given, "--dataset", "digits", "--json", "--kd", "off", "--students", "MLP", "--seeds", 1,
                          "--epochs", 60, "--device", "cpu")  # enough steps for the images to matter
        assert result.exit_code == 0, result.output
        accuracies.append([(r["val_acc"], r["test_acc"]) for r in map(json.loads, result.stdout.splitlines())])
    assert accuracies[0] == accuracies[1] and len(accuracies[0]) == 1
