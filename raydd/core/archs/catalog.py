"""The architecture table: every registered name is one row (class, keyword arguments)."""

from __future__ import annotations

from functools import partial
from typing import Callable

from torch import nn

from raydd.core.archs.classic import ALEXNET_LAYERS, MLP, VGG11_LAYERS, ConvStack, LeNet
from raydd.core.archs.convnet import ConvNet
from raydd.core.archs.resnet import RESNET18_BLOCKS, ResNet
from raydd.registry import Registry

ArchFactory = Callable[[int, int, int], nn.Module]

# name -> (class, keyword arguments). ConvNet rows override only what differs from its default
# (width 128, depth 3, relu, instance norm, average pooling).
VARIANTS: dict[str, tuple[type[nn.Module], dict]] = {
    "MLP": (MLP, {}),
    "ConvNet": (ConvNet, {}),
    **{f"ConvNetW{w}": (ConvNet, {"width": w}) for w in (32, 64, 128, 256)},
    **{f"ConvNetD{d}": (ConvNet, {"depth": d}) for d in (1, 2, 3, 4)},
    "ConvNetAS": (ConvNet, {"act": "sigmoid"}),
    "ConvNetAR": (ConvNet, {"act": "relu"}),
    "ConvNetAL": (ConvNet, {"act": "leakyrelu"}),
    "ConvNetASwish": (ConvNet, {"act": "swish"}),
    "ConvNetNN": (ConvNet, {"norm": "none"}),
    "ConvNetBN": (ConvNet, {"norm": "batchnorm"}),
    "ConvNetLN": (ConvNet, {"norm": "layernorm"}),
    "ConvNetIN": (ConvNet, {"norm": "instancenorm"}),
    "ConvNetGN": (ConvNet, {"norm": "groupnorm"}),
    "ConvNetNP": (ConvNet, {"pool": "none"}),
    "ConvNetMP": (ConvNet, {"pool": "maxpool"}),
    "ConvNetAP": (ConvNet, {"pool": "avgpool"}),
    "LeNet": (LeNet, {}),
    "AlexNet": (ConvStack, {"layers": ALEXNET_LAYERS, "norm": "none"}),
    "AlexNetBN": (ConvStack, {"layers": ALEXNET_LAYERS, "norm": "batchnorm"}),
    "VGG11": (ConvStack, {"layers": VGG11_LAYERS, "norm": "instancenorm"}),
    "VGG11BN": (ConvStack, {"layers": VGG11_LAYERS, "norm": "batchnorm"}),
    "ResNet18": (ResNet, {"blocks": RESNET18_BLOCKS, "norm": "instancenorm"}),
    "ResNet18BN": (ResNet, {"blocks": RESNET18_BLOCKS, "norm": "batchnorm"}),
    "ResNet18BN_AP": (ResNet, {"blocks": RESNET18_BLOCKS, "norm": "batchnorm", "downsample": "avgpool"}),
}

ARCHS: Registry[ArchFactory] = Registry("architecture")
for _name, (_cls, _kwargs) in VARIANTS.items():
    ARCHS.add(_name, partial(_cls, arch=_name, **_kwargs))


def build_net(name: str, channels: int, num_classes: int, image_size: int) -> nn.Module:
    """A freshly initialised (torch default init) network on the CPU; no seeding, no device moves."""
    return ARCHS.get(name)(channels, num_classes, image_size)
