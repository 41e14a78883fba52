"""The evaluation engine: protocol, seeding, KD selection on validation only, baselines."""

import pytest
import torch
import torch.nn.functional as F
import torch.nn as nn

import raydd.core.evaluate.protocol as protocol
import raydd.core.evaluate.sets as sets
from raydd.core.datasets import Dataset, Split, load_dataset
from raydd.core.evaluate import (
    EvalConfig,
    EvalRecord,
    evaluate_random_real,
    evaluate_student,
    evaluate_synset,
    predict,
    random_real,
    summarise_records,
    train_net,
    train_student,
    train_teacher,
)
from raydd.core.evaluate.train import lr_scheduler

FAST = "ConvNetW32"  # a quarter of ConvNet's width: the same family, several times faster on CPU


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def _scrambled_test(data, seed=123):
    g = torch.Generator().manual_seed(seed)
    n = len(data.test)
    test = Split(torch.randn(data.test.images.shape, generator=g), torch.randint(0, 10, (n,), generator=g))
    return Dataset(data.info, data.train, data.val, test)


# --- protocol ---------------------------------------------------------------------------------


def test_epochs_default_to_the_protocol_for_the_augmentation():
    assert EvalConfig().resolved_epochs == 300
    assert EvalConfig(augment="none").resolved_epochs == 300
    assert EvalConfig(augment="dc").resolved_epochs == 1000
    assert EvalConfig(augment="dsa").resolved_epochs == 1000
    assert EvalConfig(augment="dsa", epochs=7).resolved_epochs == 7


def _schedule(cfg: EvalConfig) -> list[float]:
    """The learning rate of every epoch, as the training loop's scheduler sets it."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    scheduler = lr_scheduler(optimizer, cfg)
    rates = []
    for _ in range(cfg.resolved_epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_defaults_are_the_dc_dsa_dm_protocol():
    cfg = EvalConfig()
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.batch_size) == (0.01, 0.9, 5e-4, 256)
    assert cfg.teacher == "ConvNet"
    schedule = _schedule(cfg)
    assert len(schedule) == 300 and schedule[149] == 0.01 and schedule[150] == 0.01 * 0.1
    assert set(schedule[:150]) == {0.01} and set(schedule[150:]) == {0.01 * 0.1}


@pytest.mark.parametrize("decay_at, decayed_from", [(0.0, 0), (1.0, 10), (0.35, 3)])
def test_the_lr_schedule_decays_once_at_its_epoch(decay_at, decayed_from):
    schedule = _schedule(EvalConfig(epochs=10, lr=0.05, lr_decay_at=decay_at, lr_decay=0.5))
    assert schedule == [0.05] * decayed_from + [0.05 * 0.5] * (10 - decayed_from)


def test_training_decays_lr_tenfold_at_half_the_epochs_with_protocol_sgd():
    cfg = EvalConfig(epochs=10, lr=0.05)
    seen = []

    def hook(epoch, optimizer):
        group = optimizer.param_groups[0]
        seen.append((epoch, group["lr"], group["momentum"], group["weight_decay"]))

    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images, labels = torch.randn(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    train_net(net, images, labels, cfg, torch.Generator().manual_seed(0), on_epoch=hook)
    assert [e for e, *_ in seen] == list(range(10))
    assert [lr for _, lr, *_ in seen] == pytest.approx([0.05] * 5 + [0.005] * 5)
    assert {(m, wd) for *_, m, wd in seen} == {(0.9, 5e-4)}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"augment": "flip"},
        {"epochs": 0},
        {"eval_batch_size": 0},
        {"val_images": 0},
        {"lr": 0.0},
        {"batch_size": 0},
        {"momentum": -0.1},
        {"lr_decay_at": 1.5},
        {"alphas": ()},
        {"alphas": (1.2,)},
        {"temperatures": ()},
        {"temperatures": (0.0,)},
    ],
)
def test_eval_config_refuses_bad_values(kwargs):
    with pytest.raises(ValueError, match="EvalConfig"):
        EvalConfig(**kwargs)


def test_eval_config_is_frozen():
    with pytest.raises(AttributeError):
        EvalConfig().lr = 0.1  # type: ignore[misc]


def test_training_loop_never_reads_a_value_back_per_step(monkeypatch):
    calls = []
    original = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append(1) or original(self))
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    images, labels = torch.randn(20, 1, 4, 4), torch.arange(20) % 4
    cfg = EvalConfig(epochs=5, batch_size=8, augment="dc")
    train_net(net, images, labels, cfg, torch.Generator().manual_seed(0), teacher=teacher, alpha=0.5, temperature=2.0)
    assert calls == []


class _Spy(nn.Module):
    """Records every input and its training flag."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(16, 4)
        self.inputs, self.modes = [], []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        self.modes.append(self.training)
        return self.linear(x.flatten(1))


def test_teacher_sees_the_students_augmented_batch_in_eval_mode():
    student, teacher = _Spy(), _Spy()
    teacher.train()
    images, labels = torch.randn(11, 1, 4, 4), torch.arange(11) % 4
    cfg = EvalConfig(epochs=3, batch_size=5, augment="dc")
    train_net(student, images, labels, cfg, torch.Generator().manual_seed(0), teacher=teacher, alpha=0.5, temperature=4.0)
    assert len(student.inputs) == len(teacher.inputs) == 3 * 2  # 11 = 5 + 6: the lone last image joins
    for s, t in zip(student.inputs, teacher.inputs):
        assert torch.equal(s, t)
    assert not any(torch.equal(s, images[: len(s)]) for s in student.inputs)  # augmented, not raw
    assert set(teacher.modes) == {False} and set(student.modes) == {True}


def test_without_augmentation_the_teacher_runs_once_and_kd_targets_match_its_logits(monkeypatch):
    import raydd.core.evaluate.train as train_module

    student, teacher = _Spy(), _Spy()
    images, labels = torch.randn(11, 1, 4, 4), torch.arange(11) % 4
    targets = []
    real_member_losses = train_module.member_losses

    def recording_member_losses(s, y, t, alpha, temperature):
        targets.append(t[0].detach().clone())
        return real_member_losses(s, y, t, alpha, temperature)

    monkeypatch.setattr(train_module, "member_losses", recording_member_losses)
    cfg = EvalConfig(epochs=3, batch_size=5, augment="none")
    train_net(student, images, labels, cfg, torch.Generator().manual_seed(0), teacher=teacher, alpha=0.5, temperature=4.0)
    assert len(teacher.inputs) == 1 and torch.equal(teacher.inputs[0], images)
    assert len(targets) == len(student.inputs) == 3 * 2
    with torch.no_grad():
        for x, t in zip(student.inputs, targets):  # no augmentation: the student's batch is raw images
            assert torch.allclose(t, teacher.linear(x.flatten(1)), atol=1e-6)


# --- seeding and records ----------------------------------------------------------------------


def test_records_are_reproducible_from_the_seed(data):
    cfg = EvalConfig(epochs=15)
    images, labels = random_real(data, 2, seed=0)
    first = evaluate_student(images, labels, data, "MLP", cfg, seed=3, device="cpu")
    again = evaluate_student(images, labels, data, "MLP", cfg, seed=3, device="cpu")
    other = evaluate_student(images, labels, data, "MLP", cfg, seed=4, device="cpu")
    assert isinstance(first, EvalRecord)
    assert (first.student, first.teacher, first.kd, first.alpha, first.temperature, first.seed) == (
        "MLP", None, False, None, None, 3
    )
    assert (first.val_acc, first.test_acc) == (again.val_acc, again.test_acc)
    assert (other.val_acc, other.test_acc) != (first.val_acc, first.test_acc)  # the seed matters
    assert 0.0 <= first.test_acc <= 1.0 and 0.0 <= first.val_acc <= 1.0 and first.train_seconds > 0
    a, _ = train_student(images, labels, data, "MLP", cfg, 3, "cpu")
    b, _ = train_student(images, labels, data, "MLP", cfg, 4, "cpu")
    assert not torch.equal(next(a.parameters()), next(b.parameters()))


def test_a_record_says_how_well_its_final_student_fits_the_set_it_trained_on(data):
    images, labels = random_real(data, 2, seed=0)
    cfg = EvalConfig(epochs=60)
    fitted = evaluate_student(images, labels, data, "MLP", cfg, seed=3, device="cpu")
    model, _ = train_student(images, labels, data, "MLP", cfg, 3, "cpu")
    on_the_set = (predict(model, images, 64, "cpu") == labels).float().mean().item()
    assert fitted.train_acc == pytest.approx(on_the_set) and fitted.train_acc > 0.9
    assert fitted.row_fields()["train_acc"] == fitted.train_acc

    still = evaluate_student(images, labels, data, "MLP", EvalConfig(epochs=1, lr=1e-9), seed=3, device="cpu")
    assert still.train_acc < 0.5  # a student that never trained is near chance on its own set


def test_choosing_alpha_and_temperature_never_reads_the_test_split(data):
    cfg = EvalConfig(epochs=20, teacher=FAST, alphas=(0.3, 0.9), temperatures=(1.0, 4.0), augment="dc")
    images, labels = random_real(data, 1, seed=0)
    teacher = train_teacher(images, labels, data, cfg, seed=0, device="cpu")
    chosen = evaluate_student(images, labels, data, "MLP", cfg, 0, "cpu", teacher)
    scrambled = evaluate_student(images, labels, _scrambled_test(data), "MLP", cfg, 0, "cpu", teacher)
    assert (chosen.alpha, chosen.temperature, chosen.val_acc) == (
        scrambled.alpha, scrambled.temperature, scrambled.val_acc
    )
    assert chosen.test_acc != scrambled.test_acc  # the test split is used, for reporting only
    # The choice is the candidate with the best validation accuracy (first one on a tie).
    single = {
        (a, t): evaluate_student(
            images, labels, data, "MLP", EvalConfig(epochs=20, teacher=FAST, alphas=(a,), temperatures=(t,), augment="dc"),
            0, "cpu", teacher,
        )
        for a, t in cfg.candidates()
    }
    best = max(single.values(), key=lambda r: r.val_acc)
    assert (chosen.alpha, chosen.temperature) == (best.alpha, best.temperature)
    assert chosen.test_acc == single[(chosen.alpha, chosen.temperature)].test_acc
    assert chosen.kd and chosen.teacher == FAST


def test_kd_needs_a_validation_split_to_choose_among_candidates(data):
    empty = Split(data.val.images[:0], data.val.labels[:0])
    no_val = Dataset(data.info, data.train, empty, data.test)
    cfg = EvalConfig(epochs=1, teacher="MLP")
    images, labels = random_real(data, 1, seed=0)
    teacher = train_teacher(images, labels, no_val, cfg, 0, "cpu")
    with pytest.raises(ValueError, match="validation"):
        evaluate_student(images, labels, no_val, "MLP", cfg, 0, "cpu", teacher)


def test_a_kd_student_is_closer_to_its_teacher_than_without_kd(data):
    # KD minimises the divergence from the teacher's softened outputs; on unseen (test) images a
    # taught student's distribution must lie nearer the teacher's than a plainly trained one's.
    # Measured as the mean KL(teacher || student) over four seeds: arg-max agreement on ten random
    # images is too noisy a proxy (it went either way seed by seed).
    cfg = EvalConfig(epochs=60, teacher=FAST, augment="dc")
    x = data.test.images

    def divergence(teacher, student):
        with torch.no_grad():
            return F.kl_div(F.log_softmax(student(x), 1), F.log_softmax(teacher(x), 1),
                            log_target=True, reduction="batchmean").item()

    without, with_kd = [], []
    for seed in (0, 1, 2, 3):
        images, labels = random_real(data, 1, seed)
        teacher = train_teacher(images, labels, data, cfg, seed, "cpu")
        plain, _ = train_student(images, labels, data, "MLP", cfg, seed, "cpu")
        taught, _ = train_student(images, labels, data, "MLP", cfg, seed, "cpu", teacher, 1.0, 4.0)
        without.append(divergence(teacher, plain.eval()))
        with_kd.append(divergence(teacher, taught.eval()))
    assert sum(with_kd) < 0.85 * sum(without)


def test_one_teacher_per_seed_is_shared_by_every_student(data, monkeypatch):
    trained, taught = [], []
    real_train_teachers, real_evaluate_seeds = sets.train_teachers, sets.evaluate_seeds

    def train_teachers(*args, **kwargs):
        teachers = real_train_teachers(*args, **kwargs)
        trained.append([id(t) for t in teachers])
        return teachers

    def evaluate_seeds(*args, **kwargs):
        teachers = args[7] if len(args) > 7 else kwargs.get("teachers")
        taught.append(None if teachers is None else [id(t) for t in teachers])
        return real_evaluate_seeds(*args, **kwargs)

    monkeypatch.setattr(sets, "train_teachers", train_teachers)
    monkeypatch.setattr(sets, "evaluate_seeds", evaluate_seeds)
    cfg = EvalConfig(epochs=2, teacher="MLP", temperatures=(2.0,))
    images, labels = random_real(data, 1, seed=0)
    records = evaluate_synset(images, labels, data, ["MLP", "LeNet"], cfg, [0, 1], (False, True), "cpu")
    assert len(trained) == 1 and len(trained[0]) == 2  # one call, one teacher per seed
    assert taught == [None, trained[0], None, trained[0]]  # the same two teachers for both students
    assert [(r.student, r.kd, r.seed) for r in records] == [
        (n, k, s) for n in ("MLP", "LeNet") for k in (False, True) for s in (0, 1)
    ]
    assert all((r.teacher, r.temperature) == (("MLP", 2.0) if r.kd else (None, None)) for r in records)


# --- refusals before any training ---------------------------------------------------------------


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(protocol, "train_members", refuse)


def test_unknown_students_are_refused_before_training(data, monkeypatch):
    _no_training(monkeypatch)
    images, labels = random_real(data, 1, seed=0)
    with pytest.raises(ValueError, match=r"Transformer.*known: .*ConvNet"):
        evaluate_synset(images, labels, data, ["MLP", "Transformer"], EvalConfig(epochs=1), [0], (False,))
    with pytest.raises(ValueError, match="NoSuchTeacher"):
        evaluate_synset(images, labels, data, ["MLP"], EvalConfig(epochs=1, teacher="NoSuchTeacher"), [0])


def test_a_set_that_does_not_fit_the_dataset_is_refused(data, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match="shape"):
        evaluate_synset(torch.zeros(10, 3, 32, 32), torch.arange(10), data, ["MLP"], EvalConfig(epochs=1), [0])
    with pytest.raises(ValueError, match="labels"):
        evaluate_synset(torch.zeros(2, 1, 28, 28), torch.tensor([0, 10]), data, ["MLP"], EvalConfig(epochs=1), [0])


# --- baselines --------------------------------------------------------------------------------


def test_random_real_draws_ipc_training_images_of_every_class(data):
    images, labels = random_real(data, 3, seed=0)
    assert images.shape == (30, 1, 28, 28)
    assert torch.bincount(labels, minlength=10).tolist() == [3] * 10
    flat = data.train.images.flatten(1)
    for image, label in zip(images, labels):
        match = (flat == image.flatten()).all(dim=1)
        assert match.any() and data.train.labels[match][0] == label  # a training image, right label
    again, _ = random_real(data, 3, seed=0)
    other, _ = random_real(data, 3, seed=1)
    assert torch.equal(images, again) and not torch.equal(images, other)


def test_random_real_refuses_impossible_ipc(data):
    with pytest.raises(ValueError, match="ipc"):
        random_real(data, 0, seed=0)
    with pytest.raises(ValueError, match="ipc 10000 is more than the .* training images of digits's smallest class"):
        random_real(data, 10_000, seed=0)


def test_a_dc_set_beats_random_real_images_on_convnet(data):
    from raydd.core.distill import DistillConfig, distill

    # A short DC run (40 outer iterations, 32 real images per class per match) on the evaluation
    # architecture; the full protocol's gap is larger still.
    cfg = DistillConfig(dataset="digits", method="dc", ipc=1, iterations=40, pool=FAST, batch_real=32)
    synset = distill(cfg, data, "cpu")
    eval_cfg = EvalConfig(epochs=60)
    seeds = [0, 1, 2]
    dc = evaluate_synset(synset.images, synset.labels, data, [FAST], eval_cfg, seeds, (False,))
    real = evaluate_random_real(data, 1, [FAST], eval_cfg, seeds, (False,))
    dc_mean = sum(r.test_acc for r in dc) / 3
    real_mean = sum(r.test_acc for r in real) / 3
    assert dc_mean > real_mean + 0.03, (dc_mean, real_mean)


# --- summaries --------------------------------------------------------------------------------


def _record(student, kd, seed, test, val=0.5):
    return EvalRecord(student, "ConvNet" if kd else None, kd, 0.5 if kd else None, 2.0 if kd else None, seed, val, test, 1.0)


def test_summarise_records_gives_mean_std_and_count_per_student_and_kd():
    records = [_record("MLP", False, 0, 0.5), _record("MLP", False, 1, 0.7), _record("MLP", True, 0, 0.9)]
    records.append(_record("LeNet", False, 0, 0.25))
    summaries = {(s.student, s.kd): s for s in summarise_records(records)}
    assert list(summaries) == [("MLP", False), ("MLP", True), ("LeNet", False)]
    plain = summaries[("MLP", False)]
    assert (plain.n, plain.test_mean, plain.test_std) == (2, pytest.approx(0.6), pytest.approx(0.1))
    assert plain.cell() == "60.00 ± 10.00 (2)"
    assert summaries[("MLP", True)].cell() == "90.00 ± 0.00 (1)"


def test_raydd_evaluate_and_raydd_results_print_the_same_spread():
    import pandas as pd

    from raydd.results import summarise
    from test_results_support import make_row

    accs = [0.31, 0.35, 0.42, 0.40]
    (summary,) = summarise_records([_record("MLP", False, seed, acc) for seed, acc in enumerate(accs)])
    rows = pd.DataFrame([make_row(eval_seed=seed, test_acc=acc) for seed, acc in enumerate(accs)])
    stats = summarise(rows, ["kd"]).iloc[0]
    assert (summary.test_mean, summary.test_std, summary.n) == (
        pytest.approx(stats["test_acc_mean"]), pytest.approx(stats["test_acc_std"]), stats["test_acc_n"])
    assert summary.test_std == pytest.approx(float(torch.tensor(accs, dtype=torch.float64).std(unbiased=False)))


def test_a_validation_subset_is_one_fixed_seeded_draw(data):
    from raydd.core.evaluate.protocol import validation_subset

    assert validation_subset(data.val, None) is data.val and validation_subset(data.val, 10_000) is data.val
    subset = validation_subset(data.val, 50)
    again = validation_subset(data.val, 50)
    assert len(subset) == 50 and torch.equal(subset.images, again.images) and torch.equal(subset.labels, again.labels)
    flat = data.val.images.flatten(1)
    assert all((flat == image.flatten()).all(dim=1).any() for image in subset.images)  # validation images only


def test_val_acc_is_measured_on_the_configured_validation_subset(data):
    from raydd.core.evaluate.protocol import validation_subset

    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=10, val_images=40, eval_batch_size=64)
    record = evaluate_student(images, labels, data, "MLP", cfg, 0, "cpu")
    net, _ = train_student(images, labels, data, "MLP", cfg, 0, "cpu")
    subset = validation_subset(data.val, 40)
    expected = (predict(net, subset.images, 64, "cpu") == subset.labels).float().mean().item()
    assert record.val_acc == pytest.approx(expected) and record.val_acc * 40 == pytest.approx(round(record.val_acc * 40))
