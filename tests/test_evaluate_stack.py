"""Stacked training: M independent students trained as one grouped net are, member for member,
the trainings they replace (same weights, same accuracy), and one diverging member harms no other.

The equivalence is checked in float64, where the grouping of the arithmetic changes the results by
~1e-15: any difference in initialisation, batch order, augmentation draws, teacher targets,
optimizer or norm statistics would show as a difference of order one.
"""

import copy
from dataclasses import dataclass, replace

import pytest
import torch

from raydd.core.archs import ARCHS, build_net
from raydd.core.datasets import load_dataset
from raydd.core.archs.convnet import ConvNet
from raydd.core.evaluate import (
    EvalConfig,
    Member,
    NetStack,
    OneNet,
    evaluate_seeds,
    freeze,
    member_accuracies,
    random_real,
    train_group,
    train_members,
    train_teachers,
)
from raydd.core.evaluate.train import make_generator



@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


@dataclass(frozen=True)
class _Split64:  # datasets.Split holds float32 only
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class _Data64:
    info: object
    train: _Split64
    val: _Split64
    test: _Split64


@pytest.fixture
def float64(data):
    """Default dtype float64 for the test, and the dataset in float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)

    def wide(split):
        return _Split64(split.images.double(), split.labels)

    yield _Data64(data.info, wide(data.train), wide(data.val), wide(data.test))
    torch.set_default_dtype(previous)


def _states(trained):
    model = trained.models[0]
    if isinstance(model, NetStack):
        return [model.net(i).state_dict() for i in range(model.size)]
    return [m.net.state_dict() for m in trained.models]


def _assert_same_members(stacked, sequential, rtol, atol):
    for i, (a, b) in enumerate(zip(_states(stacked), _states(sequential))):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=rtol, atol=atol, msg=lambda m: f"member {i} {key}: {m}")


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_architecture_stacks_member_for_member(arch):
    torch.manual_seed(0)
    nets = [build_net(arch, 1, 10, 28) for _ in range(2)]
    stack = NetStack(nets)
    x = torch.randn(2, 2, 1, 28, 28)
    for train in (True, False):
        stack.train(train)
        for net in nets:
            net.train(train)
        expected = torch.stack([net(x[i]) for i, net in enumerate(nets)])
        torch.testing.assert_close(stack(x), expected, rtol=1e-4, atol=1e-5)
        shared = torch.stack([net(x[0]) for net in nets])
        torch.testing.assert_close(stack(x[0], shared=True), shared, rtol=1e-4, atol=1e-5)
    for i, net in enumerate(nets):  # batch-norm running stats included
        for key, value in stack.net(i).state_dict().items():
            torch.testing.assert_close(value, net.state_dict()[key], rtol=1e-5, atol=1e-6)


def _narrow(norm: str, seed: int) -> ConvNet:
    """A ConvNet of width 8: the family's layers (conv, norm, pooling, linear), cheap in float64."""
    torch.manual_seed(seed)
    return ConvNet(1, 10, 28, width=8, depth=2, norm=norm)


@pytest.mark.parametrize("augment", ["none", "dc", "dsa"])
@pytest.mark.parametrize("kd", [False, True], ids=["plain", "kd"])
@pytest.mark.parametrize("norm", ["instancenorm", "batchnorm"])
def test_a_stacked_training_is_the_sequential_training_of_each_member(float64, norm, kd, augment):
    data = float64
    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=4, augment=augment, batch_size=6, lr=0.05)
    nets = [_narrow(norm, seed) for seed in (0, 1)]  # two seeds ...
    teachers = [freeze(_narrow("instancenorm", seed + 10)) for seed in (0, 1)]
    kd_settings = [(0.5, 1.0), (0.9, 4.0)] if kd else [(0.0, 1.0)]  # ... times the KD candidates
    members = [Member(s, teachers[s] if kd else None, a, t) for s in (0, 1) for a, t in kd_settings]
    stack = NetStack([nets[m.stream] for m in members])
    train_members(stack, images, labels, cfg, [make_generator(100 + s) for s in (0, 1)], members)
    alone = []
    for m in members:
        net = copy.deepcopy(nets[m.stream])
        train_members(OneNet(net), images, labels, cfg, [make_generator(100 + m.stream)], [replace(m, stream=0)])
        alone.append(net)
    for i, net in enumerate(alone):
        for key, value in net.state_dict().items():
            torch.testing.assert_close(stack.net(i).state_dict()[key], value, rtol=1e-9, atol=1e-11,
                                       msg=lambda m: f"member {i} {key}: {m}")
    val = data.val.images, data.val.labels
    assert member_accuracies(stack, *val, 64) == [member_accuracies(OneNet(n), *val, 64)[0] for n in alone]
    if kd:  # the candidates did train differently: the check above compared distinct trainings
        assert not torch.allclose(alone[0].classifier.weight, alone[1].classifier.weight)


def test_a_stacked_group_of_seeds_and_candidates_is_their_sequential_group(float64):
    data = float64
    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=3, batch_size=6, augment="dsa", teacher="MLP", temperatures=(1.0, 4.0))
    teachers = train_teachers(images, labels, data, cfg, [0, 1], "cpu")
    group = dict(teachers=teachers, candidates=cfg.candidates())
    stacked = train_group(images, labels, data, "LeNet", cfg, [0, 1], "cpu", stacked=True, **group)
    sequential = train_group(images, labels, data, "LeNet", cfg, [0, 1], "cpu", stacked=False, **group)
    assert stacked.models[0].size == len(sequential.models) == 4
    _assert_same_members(stacked, sequential, rtol=1e-9, atol=1e-11)


def test_stacked_and_sequential_records_agree(float64):
    data = float64
    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=3, batch_size=5, teacher="MLP", temperatures=(1.0, 4.0), augment="dc")
    teachers = train_teachers(images, labels, data, cfg, [3, 4], "cpu", stacked=True)
    sequential_teachers = train_teachers(images, labels, data, cfg, [3, 4], "cpu", stacked=False)
    for a, b in zip(teachers, sequential_teachers):
        for key, value in a.state_dict().items():
            torch.testing.assert_close(value, b.state_dict()[key], rtol=1e-9, atol=1e-11)
    stacked = evaluate_seeds(images, labels, data, "LeNet", cfg, [3, 4], "cpu", teachers, stacked=True)
    sequential = evaluate_seeds(images, labels, data, "LeNet", cfg, [3, 4], "cpu", teachers, stacked=False)
    strip = [(r.seed, r.alpha, r.temperature, r.val_acc, r.test_acc) for r in stacked]
    assert strip == [(r.seed, r.alpha, r.temperature, r.val_acc, r.test_acc) for r in sequential]


def test_in_float32_stacking_changes_weights_by_rounding_only(data):
    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=3, batch_size=6, augment="dsa", lr=0.05)
    stacked = train_group(images, labels, data, "ConvNetW32", cfg, [0, 1], "cpu", stacked=True)
    sequential = train_group(images, labels, data, "ConvNetW32", cfg, [0, 1], "cpu", stacked=False)
    _assert_same_members(stacked, sequential, rtol=1e-3, atol=1e-3)
    for a, b in zip(stacked.accuracies(data.test, 128, "cpu"), sequential.accuracies(data.test, 128, "cpu")):
        assert abs(a - b) <= 2 / len(data.test)


@pytest.mark.parametrize("norm", ["instancenorm", "batchnorm"])
def test_a_diverging_member_does_not_poison_the_others(float64, norm):
    data = float64
    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=3, batch_size=6, augment="dsa")
    nets = [_narrow(norm, seed) for seed in range(3)]
    with torch.no_grad():
        for p in nets[1].parameters():
            p.fill_(float("nan"))  # as if it had diverged
    stack = NetStack(nets)
    generators = [make_generator(s) for s in range(3)]
    train_members(stack, images, labels, cfg, generators, [Member(s) for s in range(3)])
    for i in (0, 2):
        alone = copy.deepcopy(nets[i])
        train_members(OneNet(alone), images, labels, cfg, [make_generator(i)], [Member(0)])
        for key, value in stack.net(i).state_dict().items():
            torch.testing.assert_close(value, alone.state_dict()[key], rtol=1e-9, atol=1e-11)
    assert torch.isnan(stack.net(1).classifier.weight).all()


def test_members_of_one_stack_share_kd_or_none(data):
    images, labels = random_real(data, 1, seed=0)
    nets = [build_net("MLP", 1, 10, 28) for _ in range(2)]
    teacher = build_net("MLP", 1, 10, 28)
    with pytest.raises(ValueError, match="all with a teacher or all without"):
        train_members(NetStack(nets), images, labels, EvalConfig(epochs=1), [make_generator(0)],
                      [Member(0), Member(0, teacher, 0.5, 2.0)])


def test_the_measured_rule_chooses_stacking_per_architecture_device_and_set(data):
    from raydd.core.evaluate.speed import inference_batch_size, stack_pays

    images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=1)
    mlp = train_group(images, labels, data, "MLP", cfg, [0, 1], "cpu")
    convnet = train_group(images, labels, data, "ConvNetW32", cfg, [0, 1], "cpu")
    assert [type(m) for m in mlp.models] == [NetStack] and mlp.models[0].size == 2
    assert [type(m) for m in convnet.models] == [OneNet, OneNet]  # compute-bound on CPU: one after another
    assert not stack_pays("MLP", "cpu", 1, 10)  # a single training is never stacked
    assert stack_pays("LeNet", "cpu", 5, 10) and not stack_pays("LeNet", "cpu", 5, 100)
    assert stack_pays("ConvNetW64", "cuda", 5, 100) and stack_pays("MLP", "cuda", 2, 10)
    assert not stack_pays("ResNet18BN", "cuda", 5, 100)  # measured slower stacked on an H200
    assert not stack_pays("VGG11", "cuda", 5, 10)  # not measured on a GPU: one after another
    assert inference_batch_size("ConvNetW64", "cpu") == inference_batch_size("ConvNet", "cpu")


@pytest.mark.parametrize("arch", ["ConvNetW32", "LeNet"])
def test_channels_last_inference_predicts_what_nchw_predicts(data, arch):
    """The speed rule's channels-last inference changes the layout, not the predictions."""
    from raydd.core.evaluate.speed import inference_channels_last

    assert inference_channels_last(arch, "cpu") and not inference_channels_last(arch, "cuda")
    assert not inference_channels_last("ResNet18", "cpu")  # measured slower: stays NCHW
    images, labels = random_real(data, 1, seed=0)
    trained = train_group(images, labels, data, arch, EvalConfig(epochs=3), [0], "cpu").models[0]
    split = data.val
    nchw = member_accuracies(copy.deepcopy(trained), split.images, split.labels, 64)
    net = copy.deepcopy(trained)
    assert member_accuracies(net, split.images, split.labels, 64, channels_last=True) == nchw
    convs = [p for p in net.net.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert not all(p.is_contiguous() for p in convs)  # really moved: some weight is NHWC only
