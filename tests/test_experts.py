"""Expert trajectories (raydd/core/experts): the training protocol, the identity, the unroll rule."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from raydd.core.archs import build_net
from raydd.core.datasets import Dataset, load_dataset
from raydd.core.datasets.zca import fit_zca, whiten_dataset
from raydd.core.evaluate.train import build_seeded
from raydd.core.experts import (
    ExpertIdentity,
    ExpertSettings,
    ParamLayout,
    Trajectory,
    check_unrollable,
    train_expert,
)
from raydd.core.seeding import derive_seed


@pytest.fixture(scope="module")
def small():
    """digits with 60 training images: an epoch of MLP takes milliseconds."""
    data = load_dataset("digits")
    keep = torch.arange(60)
    train = type(data.train)(data.train.images[keep], data.train.labels[keep])
    return Dataset(data.info, train, data.val, data.test, data.val_size, data.split_seed)


def test_a_trajectory_holds_the_initial_net_and_one_vector_per_epoch(small):
    trajectory, seconds = train_expert("MLP", small, ExpertSettings(epochs=3, augment="none"), seed=4)
    initial = build_seeded("MLP", small.info, derive_seed(4, "expert", "init"))
    assert trajectory.params.shape == (4, ParamLayout.of(initial).numel) and trajectory.epochs == 3
    assert torch.equal(trajectory.params_at(0), ParamLayout.of(initial).flatten(initial))
    assert seconds > 0
    assert not torch.equal(trajectory.params_at(2), trajectory.params_at(3))
    with pytest.raises(IndexError, match="outside this 3-epoch trajectory"):
        trajectory.params_at(4)


def test_one_epoch_in_one_batch_is_one_sgd_step_of_the_settings(small):
    """The protocol computed directly: a full batch, no augmentation, plain SGD with weight decay."""
    settings = ExpertSettings(epochs=1, lr=0.05, weight_decay=0.01, batch_size=256, augment="none")
    trajectory, _ = train_expert("MLP", small, settings, seed=1)
    net = build_net("MLP", 1, 10, 28)
    layout = ParamLayout.of(net)
    start = trajectory.params_at(0).clone().requires_grad_(True)
    loss = F.cross_entropy(functional_call(net, layout.unflatten(start), (small.train.images,)), small.train.labels)
    (grad,) = torch.autograd.grad(loss, start)
    expected = start.detach() - 0.05 * (grad + 0.01 * start.detach())
    torch.testing.assert_close(trajectory.params_at(1), expected, rtol=1e-5, atol=1e-6)


def test_the_same_seed_gives_the_same_expert_and_another_seed_another(small):
    settings = ExpertSettings(epochs=2, batch_size=32)  # DSA on, several batches an epoch
    a, _ = train_expert("MLP", small, settings, seed=0)
    b, _ = train_expert("MLP", small, settings, seed=0)
    c, _ = train_expert("MLP", small, settings, seed=1)
    assert torch.equal(a.params, b.params)
    assert not torch.equal(a.params, c.params)


def test_zca_experts_train_on_whitened_images(small):
    settings = ExpertSettings(epochs=1, augment="none", zca=True)
    zca = fit_zca(small.train, small.info)
    fitted_inside, _ = train_expert("MLP", small, settings, seed=2)
    given, _ = train_expert("MLP", small, settings, seed=2, zca=zca)
    assert torch.equal(fitted_inside.params, given.params)
    plain, _ = train_expert("MLP", small, ExpertSettings(epochs=1, augment="none"), seed=2)
    assert not torch.equal(plain.params, given.params)
    on_whitened, _ = train_expert("MLP", whiten_dataset(small, zca), ExpertSettings(epochs=1, augment="none"), seed=2)
    assert torch.equal(on_whitened.params, given.params)


def test_a_zca_transform_without_zca_settings_is_refused(small):
    with pytest.raises(ValueError, match="do not whiten"):
        train_expert("MLP", small, ExpertSettings(epochs=1), seed=0, zca=fit_zca(small.train, small.info))


@pytest.mark.parametrize("arch", ["ConvNetBN", "VGG11BN", "ResNet18BN", "AlexNetBN"])
def test_an_architecture_with_batchnorm_statistics_is_refused_in_one_line(small, arch):
    with pytest.raises(ValueError) as info:
        train_expert(arch, small, ExpertSettings(epochs=1), seed=0)
    message = str(info.value)
    assert message.startswith(f"{arch} cannot be unrolled by trajectory matching: it keeps running statistics")
    assert "\n" not in message


def test_every_other_registered_architecture_can_be_unrolled():
    from raydd.core.archs import ARCHS

    refused = []
    for name in ARCHS:
        try:
            check_unrollable(name, 3, 10, 32)
        except ValueError:
            refused.append(name)
    assert refused == [n for n in ARCHS if "BN" in n]


def test_a_layout_unflattens_into_views_of_the_vector():
    net = build_net("ConvNetW32", 1, 10, 28)
    layout = ParamLayout.of(net)
    flat = layout.flatten(net)
    views = layout.unflatten(flat)
    assert list(views) == [n for n, _ in net.named_parameters()]
    for name, p in net.named_parameters():
        assert torch.equal(views[name], p.detach()) and views[name].data_ptr() >= flat.data_ptr()
    assert ParamLayout.from_list(layout.to_list()) == layout


def test_a_trajectory_of_the_wrong_width_is_refused():
    layout = ParamLayout(("w",), ((3,),))
    with pytest.raises(ValueError, match=r"needs \[epochs \+ 1 >= 2, 3\] parameters, got \(2, 4\)"):
        Trajectory("MLP", layout, torch.zeros(2, 4))


def test_the_key_changes_with_everything_that_changes_the_numbers(small):
    base = ExpertIdentity.of(small, "MLP", ExpertSettings(), 0)
    variants = [
        ExpertIdentity.of(small, "ConvNet", ExpertSettings(), 0),
        ExpertIdentity.of(small, "MLP", ExpertSettings(), 1),
        *[ExpertIdentity.of(small, "MLP", ExpertSettings(**{k: v}), 0)
          for k, v in dict(epochs=49, lr=0.02, momentum=0.5, weight_decay=5e-4, batch_size=128,
                           augment="dc", zca=True).items()],
        ExpertIdentity.of(Dataset(small.info, small.train, small.val, small.test, 0.2, 0), "MLP", ExpertSettings(), 0),
        ExpertIdentity.of(Dataset(small.info, small.train, small.val, small.test, 0.1, 1), "MLP", ExpertSettings(), 0),
    ]
    keys = {base.key, *(v.key for v in variants)}
    assert len(keys) == len(variants) + 1
    assert base.key == ExpertIdentity.of(small, "MLP", ExpertSettings(), 0).key and len(base.key) == 16


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs must be an integer >= 1, got 0"),
    (dict(epochs=2.5), "epochs must be an integer >= 1, got 2.5"),
    (dict(lr=0.0), "lr must be a finite number > 0, got 0.0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0, got nan"),
    (dict(momentum=1.0), "momentum must be < 1, got 1.0"),
    (dict(weight_decay=-1e-4), "weight_decay must be a finite number >= 0, got -0.0001"),
    (dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
    (dict(augment="flip"), "augment must be one of dsa, dc, none, got 'flip'"),
    (dict(zca="yes"), "zca must be true or false, got 'yes'"),
])
def test_bad_expert_settings_are_one_line_each(kwargs, message):
    with pytest.raises(ValueError) as info:
        ExpertSettings(**kwargs)
    assert str(info.value) == f"ExpertSettings: {message}"


def test_a_negative_seed_is_refused(small):
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        ExpertIdentity.of(small, "MLP", ExpertSettings(), -1)
