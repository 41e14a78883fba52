"""Label regimes (hard, soft, relabel), their label storage, the test-max comparability mode, and
their refusals: in the core and through `raydd evaluate`."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import ArtifactError, SyntheticSet, build_meta, load_synset, save_synset
from raydd.core.datasets import DATASETS, load_dataset
from raydd.core.datasets.sources import DatasetSource, RawSplits
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import EvalConfig, evaluate_seeds, random_real, train_student, train_teacher
from raydd.core.evaluate.labels import check_soft_labels, label_bytes, teacher_probabilities

QUICK = dict(epochs=4, batch_size=8, teacher="MLP")


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def drawn(data):
    return random_real(data, 2, seed=1)


def _weights(net) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_one_hot_soft_labels_train_exactly_as_hard_labels(data, drawn):
    images, labels = drawn
    cfg = EvalConfig(**QUICK)
    hard, _ = train_student(images, labels, data, "MLP", cfg, seed=0, device="cpu")
    soft, _ = train_student(images, torch.nn.functional.one_hot(labels, 10).float(), data, "MLP", cfg, seed=0,
                            device="cpu")
    assert torch.allclose(_weights(hard), _weights(soft), atol=1e-6)
    smoothed = 0.9 * torch.nn.functional.one_hot(labels, 10).float() + 0.01
    other, _ = train_student(images, smoothed, data, "MLP", cfg, seed=0, device="cpu")
    assert not torch.allclose(_weights(hard), _weights(other), atol=1e-4)  # the soft labels are what it fits


def test_relabel_is_kd_at_alpha_1_and_temperature_1_and_records_no_kd(data, drawn):
    images, labels = drawn
    cfg = EvalConfig(**QUICK, alphas=(1.0,), temperatures=(1.0,))
    teacher = train_teacher(images, labels, data, cfg, seed=0, device="cpu")
    (relabelled,) = evaluate_seeds(images, labels, data, "MLP", cfg, [0], "cpu", relabelers=[teacher])
    (kd,) = evaluate_seeds(images, labels, data, "MLP", cfg, [0], "cpu", teachers=[teacher])
    assert relabelled.test_acc == pytest.approx(kd.test_acc) and relabelled.val_acc == pytest.approx(kd.val_acc)
    assert (relabelled.kd, relabelled.teacher, relabelled.alpha) == (False, None, None)
    with pytest.raises(ValueError, match="takes no KD teacher"):
        evaluate_seeds(images, labels, data, "MLP", cfg, [0], "cpu", teachers=[teacher], relabelers=[teacher])


def test_the_whole_data_teacher_gives_soft_labels_that_are_probabilities(data, drawn):
    images, labels = drawn
    teacher = train_teacher(data.train.images[:200], data.train.labels[:200], data, EvalConfig(**QUICK), 0, "cpu")
    soft = teacher_probabilities(teacher, images)
    assert soft.shape == (20, 10) and torch.allclose(soft.sum(1), torch.ones(20))
    assert check_soft_labels(soft, 20, 10, "x") is not None


def test_test_max_reports_the_best_test_accuracy_over_epochs(data, drawn, monkeypatch):
    import raydd.core.evaluate.protocol as protocol

    images, labels = drawn
    cfg = EvalConfig(epochs=25, batch_size=8)
    (final,) = evaluate_seeds(images, labels, data, "MLP", cfg, [0], "cpu")
    measured = []

    def accuracies(model, images, labels, *args):
        accs = member_accuracies(model, images, labels, *args)
        measured.append((len(images), accs[0]))
        return accs

    member_accuracies = protocol.member_accuracies
    monkeypatch.setattr(protocol, "member_accuracies", accuracies)
    (best,) = evaluate_seeds(images, labels, data, "MLP", EvalConfig(epochs=25, batch_size=8, selection="test-max"),
                             [0], "cpu")
    tests = [acc for n, acc in measured if n == len(data.test)]
    assert len(tests) == 3  # after epochs 10, 20 and the last, 25
    assert best.test_acc == max(tests) and tests[-1] == pytest.approx(final.test_acc)  # the same training
    assert best.val_acc == pytest.approx(final.val_acc)


@pytest.mark.parametrize("regime, expected", [("hard", 8 * 20), ("soft", 4 * 20 * 10)])
def test_label_storage_per_regime(data, regime, expected):
    assert label_bytes(regime, 20, data.info, "MLP") == expected


def test_relabel_storage_is_the_teachers_weights(data):
    from raydd.core.archs import build_net

    net = build_net("ConvNet", 1, 10, 28)
    weights = sum(t.numel() * 4 for t in net.state_dict().values() if t.is_floating_point())
    assert label_bytes("relabel", 20, data.info, "ConvNet") == weights


@pytest.mark.parametrize("soft, message", [
    (torch.full((20, 9), 1 / 9), r"soft labels are torch.float32 \[20, 9\]; expected float \[20, 10\]"),
    (torch.full((20, 10), 0.2), "soft label row 0 sums to 2.0000, not 1"),
    (torch.full((20, 10), -0.1), "negative, NaN or infinite"),
])
def test_soft_labels_of_the_wrong_shape_or_not_summing_to_one_are_refused(data, drawn, tmp_path, soft, message):
    images, labels = drawn
    with pytest.raises(ValueError, match=message):
        check_soft_labels(soft, 20, 10, "the set")
    meta = build_meta(DistillConfig(dataset="digits", ipc=2, iterations=0), data.info, 0, 0.0)
    with pytest.raises(ArtifactError, match=message):
        save_synset(SyntheticSet(images, labels, meta, soft), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


@pytest.fixture(scope="module")
def soft_set(tmp_path_factory, data):
    images, labels = random_real(data, 1, seed=0)
    soft = 0.8 * torch.nn.functional.one_hot(labels, 10).float() + 0.02
    meta = build_meta(DistillConfig(dataset="digits", ipc=1, iterations=0), data.info, 0, 0.0,
                      val_size=data.val_size, split_seed=data.split_seed)
    return save_synset(SyntheticSet(images, labels, meta, soft), tmp_path_factory.mktemp("sets") / "soft1")


def test_an_artifact_keeps_its_soft_labels(soft_set):
    loaded = load_synset(soft_set)
    assert loaded.soft_labels is not None and torch.allclose(loaded.soft_labels.sum(1), torch.ones(10))


def _evaluate(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)])


def test_evaluate_trains_on_soft_labels_and_writes_the_regime(soft_set, tmp_path):
    from raydd.results import load

    out = tmp_path / "rows"
    result = _evaluate(soft_set, "--labels", "soft", "--students", "MLP", "--kd", "off", "--seeds", 1,
                       "--epochs", 2, "--out", out)
    assert result.exit_code == 0, result.output
    row = load(str(out)).iloc[0]
    assert (row["labels"], row["label_bytes"], row["selection"]) == ("soft", 4 * 10 * 10, "validation")


def test_evaluate_relabels_random_real_images_with_the_whole_data_teacher(tmp_path):
    from raydd.results import load

    out = tmp_path / "rows"
    result = _evaluate("--random-real", 1, "--labels", "relabel", "--teacher", "MLP", "--students", "MLP",
                       "--kd", "off", "--seeds", 1, "--epochs", 2, "--whole-epochs", 1, "--out", out)
    assert result.exit_code == 0, result.output
    assert "training the whole-data teacher (MLP, 1 epochs)" in result.output
    row = load(str(out)).iloc[0]
    assert row["labels"] == "relabel" and not row["kd"] and row["label_bytes"] == label_bytes(
        "relabel", 10, DATASETS.get("digits").info, "MLP")


@pytest.fixture
def no_training(monkeypatch):
    import raydd.core.evaluate.protocol as protocol

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(protocol, "train_members", refuse)


@pytest.mark.parametrize("args, message", [
    (["--labels", "fuzzy"], "'fuzzy' is not one of 'hard', 'soft', 'relabel'"),
    (["--labels", "relabel", "--kd", "on"], "--labels relabel trains every student on a teacher's labels already"),
    (["--labels", "relabel"], "--labels relabel (its whole-data teacher) needs --whole-epochs"),
    (["--whole-dataset"], "--whole-dataset needs --whole-epochs (or an explicit --epochs)"),
    (["--selection", "best"], "'best' is not one of 'validation', 'test-max'"),
])
def test_bad_regime_options_are_one_line_before_training(args, message, no_training):
    result = _evaluate("--random-real", 1, "--students", "MLP", "--kd", "off", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_whole_dataset_on_a_dataset_without_a_training_split_is_one_line(monkeypatch, no_training):
    info = DATASETS.get("digits").info
    empty = RawSplits(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.int64),
                      torch.zeros(10, 1, 28, 28), torch.arange(10))
    monkeypatch.setitem(DATASETS._entries, "testonly", DatasetSource(info, lambda *_: empty))
    result = _evaluate("--whole-dataset", "--whole-epochs", 1, "--dataset", "testonly", "--students", "MLP",
                       "--kd", "off")
    assert result.exit_code == 2 and "has no training split" in result.output and "Traceback" not in result.output
