import pytest
import torch
from torch import nn

from raydd.core.archs import ARCHS, VARIANTS, ArchNet, build_net, has_batchnorm
from raydd.core.archs.classic import ConvStack
from raydd.core.archs.convnet import ConvNet
from raydd.core.archs.resnet import ResNet

EXPECTED_NAMES = {
    "MLP", "ConvNet",
    "ConvNetW32", "ConvNetW64", "ConvNetW128", "ConvNetW256",
    "ConvNetD1", "ConvNetD2", "ConvNetD3", "ConvNetD4",
    "ConvNetAS", "ConvNetAR", "ConvNetAL", "ConvNetASwish",
    "ConvNetNN", "ConvNetBN", "ConvNetLN", "ConvNetIN", "ConvNetGN",
    "ConvNetNP", "ConvNetMP", "ConvNetAP",
    "LeNet", "AlexNet", "AlexNetBN", "VGG11", "VGG11BN",
    "ResNet18", "ResNet18BN", "ResNet18BN_AP",
}
BN_NAMES = {"ConvNetBN", "AlexNetBN", "VGG11BN", "ResNet18BN", "ResNet18BN_AP"}
# (channels, image_size, num_classes): MNIST-like and CIFAR-like inputs, the smallest class count too.
INPUTS = [(1, 28, 2), (3, 32, 10)]


def test_table_holds_exactly_the_listed_names():
    assert set(ARCHS.names()) == EXPECTED_NAMES
    assert set(VARIANTS) == EXPECTED_NAMES


@pytest.mark.parametrize("channels,size,classes", INPUTS, ids=["1x28", "3x32"])
@pytest.mark.parametrize("name", ARCHS.names())
def test_forward_backward_and_embed(name, channels, size, classes):
    torch.manual_seed(0)
    net = build_net(name, channels, classes, size)
    assert isinstance(net, ArchNet)
    x = torch.randn(2, channels, size, size)  # 2 samples: batch norm needs more than one
    out = net(x)
    assert out.shape == (2, classes)
    out.square().sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    net.eval()  # deterministic batch norm, so forward and classifier(embed) must agree exactly
    with torch.no_grad():
        features = net.embed(x)
        assert features.shape == (2, net.embed_dim)
        torch.testing.assert_close(net(x), net.classifier(features))


@pytest.mark.parametrize("name", ARCHS.names())
def test_has_batchnorm_marks_exactly_the_bn_variants(name):
    assert has_batchnorm(build_net(name, 3, 10, 32)) == (name in BN_NAMES)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown architecture 'ConvNetX'.*ConvNetBN.*ResNet18"):
        build_net("ConvNetX", 3, 10, 32)


@pytest.mark.parametrize("name,size,accepted", [
    ("ConvNetD4", 8, "any size from 16x16 up"),
    ("ConvNet", 4, "any size from 8x8 up"),
    ("VGG11", 16, "28x28 and any size from 32x32 up"),
    ("VGG11", 30, "28x28 and any size from 32x32 up"),
    ("LeNet", 8, "any size from 16x16 up"),
    ("AlexNet", 4, "any size from 8x8 up"),
    ("ResNet18BN_AP", 4, "any size from 8x8 up"),
])
def test_too_small_image_names_arch_size_and_accepted_sizes(name, size, accepted):
    with pytest.raises(ValueError, match=rf"^{name} cannot take {size}x{size} images") as err:
        build_net(name, 3, 10, size)
    assert accepted in str(err.value)


@pytest.mark.parametrize("name,size", [("ConvNetD4", 16), ("ConvNetNP", 8), ("ResNet18", 4), ("MLP", 1)])
def test_smallest_accepted_sizes_run(name, size):
    net = build_net(name, 3, 10, size)
    assert net(torch.randn(2, 3, size, size)).shape == (2, 10)


@pytest.mark.parametrize("channels,classes,size,message", [
    (0, 10, 32, "channels must be an integer >= 1"),
    (3, 1, 32, "num_classes must be an integer >= 2"),
    (3, 10, 0, "image_size must be an integer >= 1"),
    (3, 10, (32, 32), "image_size must be an integer >= 1"),
    (True, 10, 32, "channels must be an integer >= 1"),
])
@pytest.mark.parametrize("name", ["MLP", "ConvNet", "LeNet", "AlexNet", "ResNet18"])
def test_bad_build_arguments_name_the_arch(name, channels, classes, size, message):
    with pytest.raises(ValueError, match=rf"^{name}: {message}"):
        build_net(name, channels, classes, size)


@pytest.mark.parametrize("kwargs,message", [
    ({"act": "gelu"}, "unknown activation 'gelu'; known: relu, sigmoid"),
    ({"norm": "rmsnorm"}, "unknown norm 'rmsnorm'; known: none, batchnorm"),
    ({"pool": "lppool"}, "unknown pooling 'lppool'; known: none, avgpool, maxpool"),
    ({"norm": "groupnorm", "width": 30}, "group norm needs a width divisible by 4"),
    ({"width": 0}, "width and depth must be integers >= 1"),
    ({"depth": 0}, "width and depth must be integers >= 1"),
])
def test_convnet_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNet(3, 10, 32, **kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"downsample": "maxpool"}, "unknown downsample 'maxpool'"),
    ({"blocks": (2, 2, 2)}, "blocks must be 4 integers >= 1"),
    ({"blocks": (2, 0, 2, 2)}, "blocks must be 4 integers >= 1"),
])
def test_resnet_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet(3, 10, 32, **kwargs)


def test_conv_stack_refuses_unknown_norm():
    with pytest.raises(ValueError, match="unknown norm 'weird'"):
        ConvStack(3, 10, 32, norm="weird")


def _types(net):
    return [type(m) for m in net.features]


def test_default_convnet_is_the_dc_default():
    net = build_net("ConvNet", 3, 10, 32)
    block = [nn.Conv2d, nn.GroupNorm, nn.ReLU, nn.AvgPool2d]
    assert _types(net) == block * 3
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128] * 3
    norms = [m for m in net.features if isinstance(m, nn.GroupNorm)]
    assert all(n.num_groups == n.num_channels == 128 and n.affine for n in norms)  # instance norm
    assert net.embed_dim == 128 * 4 * 4


@pytest.mark.parametrize("name,check", [
    ("ConvNetAS", lambda f: nn.Sigmoid in _types(f) and nn.ReLU not in _types(f)),
    ("ConvNetAL", lambda f: [m.negative_slope for m in f.features if isinstance(m, nn.LeakyReLU)] == [0.01] * 3),
    ("ConvNetASwish", lambda f: nn.SiLU in _types(f)),
    ("ConvNetNN", lambda f: _types(f) == [nn.Conv2d, nn.ReLU, nn.AvgPool2d] * 3),
    ("ConvNetBN", lambda f: _types(f).count(nn.BatchNorm2d) == 3),
    ("ConvNetLN", lambda f: [m.normalized_shape for m in f.features if isinstance(m, nn.LayerNorm)]
        == [(128, 32, 32), (128, 16, 16), (128, 8, 8)]),
    ("ConvNetGN", lambda f: all(m.num_groups == 4 for m in f.features if isinstance(m, nn.GroupNorm))),
    ("ConvNetNP", lambda f: nn.AvgPool2d not in _types(f) and f.embed_dim == 128 * 32 * 32),
    ("ConvNetMP", lambda f: _types(f).count(nn.MaxPool2d) == 3),
    ("ConvNetD1", lambda f: _types(f).count(nn.Conv2d) == 1 and f.embed_dim == 128 * 16 * 16),
    ("ConvNetD4", lambda f: _types(f).count(nn.Conv2d) == 4 and f.embed_dim == 128 * 2 * 2),
    ("ConvNetW32", lambda f: f.embed_dim == 32 * 4 * 4),
    ("VGG11", lambda f: _types(f).count(nn.GroupNorm) == 8 and f.embed_dim == 512),
    ("VGG11BN", lambda f: _types(f).count(nn.BatchNorm2d) == 8),
    ("AlexNet", lambda f: _types(f).count(nn.Conv2d) == 5 and f.embed_dim == 192 * 4 * 4),
])
def test_variant_rows_change_the_intended_layer(name, check):
    assert check(build_net(name, 3, 10, 32))


@pytest.mark.parametrize("name", ["ConvNet", "LeNet", "AlexNet", "VGG11", "ResNet18"])
def test_28px_inputs_reach_the_32px_feature_map(name):
    assert build_net(name, 1, 10, 28).embed_dim == build_net(name, 3, 10, 32).embed_dim


def test_resnet_ap_variant_flattens_its_final_map():
    assert build_net("ResNet18BN_AP", 3, 10, 32).embed_dim == 512 * 4 * 4
    assert build_net("ResNet18BN_AP", 1, 10, 28).embed_dim == 512 * 3 * 3


def test_builders_do_not_seed_and_use_torch_default_init():
    torch.manual_seed(123)
    first = build_net("ConvNet", 3, 10, 32).classifier.weight.clone()
    second = build_net("ConvNet", 3, 10, 32).classifier.weight
    assert not torch.equal(first, second)  # the builder draws from the global RNG, never reseeds
    torch.manual_seed(123)
    assert torch.equal(first, build_net("ConvNet", 3, 10, 32).classifier.weight)
    bound = 1 / (128 * 4 * 4) ** 0.5  # nn.Linear's default uniform(-1/sqrt(fan_in), +)
    assert first.abs().max() <= bound


def test_builders_return_cpu_modules_without_wrappers():
    net = build_net("ResNet18BN", 3, 10, 32)
    assert not isinstance(net, nn.DataParallel)
    assert {p.device.type for p in net.parameters()} == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    net = build_net("ConvNetBN", 3, 10, 32).to("cuda")
    assert net(torch.randn(2, 3, 32, 32, device="cuda")).shape == (2, 10)


@pytest.mark.parametrize("name", ARCHS.names())
def test_gradient_matching_reaches_the_images(name):
    """DC matches parameter gradients, so a loss on them must backpropagate to the input images."""
    torch.manual_seed(0)
    net = build_net(name, 3, 4, 32)
    images = torch.randn(2, 3, 32, 32, requires_grad=True)
    loss = nn.functional.cross_entropy(net(images), torch.tensor([0, 1]))
    grads = torch.autograd.grad(loss, list(net.parameters()), create_graph=True)
    sum(g.square().sum() for g in grads).backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
