"""Shared pieces of the architectures: the base class, layer tables, input checks, shape arithmetic.

Feature-map sizes are computed with integer arithmetic at build time (no dry forward), because
distillation builds a fresh network every outer iteration and construction must stay cheap.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from raydd.registry import lookup

# Extra padding that lifts 28-px images (the MNIST family) to the 32-px geometry the DC nets were
# designed for, so both sizes end in the same feature map.
MNIST_SIDE = 28
MNIST_EXTRA_PAD = 2

# Largest image side searched when telling the user which sizes an architecture takes.
_SIZE_SEARCH_LIMIT = 512


class ArchNet(nn.Module):
    """Base of every architecture: `forward(x) = classifier(embed(x))`.

    `embed(x)` returns the penultimate features [N, embed_dim]; distribution matching compares them.
    """

    embed_dim: int
    classifier: nn.Module

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def has_batchnorm(net: nn.Module) -> bool:
    """True when the net holds a BatchNorm layer (its running stats must be set from real data)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_inputs(arch: str, channels: int, num_classes: int, image_size: int) -> None:
    """Refuse impossible build arguments with a message that names the architecture."""
    if not _positive_int(channels):
        raise ValueError(f"{arch}: channels must be an integer >= 1, got {channels!r}")
    if not (_positive_int(num_classes) and num_classes >= 2):
        raise ValueError(f"{arch}: num_classes must be an integer >= 2, got {num_classes!r}")
    if not _positive_int(image_size):
        raise ValueError(f"{arch}: image_size must be an integer >= 1 (square images), got {image_size!r}")


def extra_pad(image_size: int) -> int:
    return MNIST_EXTRA_PAD if image_size == MNIST_SIDE else 0


def conv_side(side: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output side of a convolution; 0 when the input is too small for the kernel."""
    if side < 1 or side + 2 * pad < kernel:
        return 0
    return (side + 2 * pad - kernel) // stride + 1


def pool_side(side: int) -> int:
    """Output side of a 2x2, stride-2 pooling; 0 once the map is gone."""
    return side // 2


def require_side(arch: str, image_size: int, side_of: Callable[[int], int]) -> int:
    """The final feature side for `image_size`, or a ValueError saying which sizes the net takes."""
    side = side_of(image_size)
    if side >= 1:
        return side
    raise ValueError(f"{arch} cannot take {image_size}x{image_size} images: its feature map shrinks "
                     f"to nothing before the classifier ({_accepted_sizes(side_of)})")


def _accepted_sizes(side_of: Callable[[int], int]) -> str:
    """Describe the accepted sizes: the smallest from which all larger work, and 28 if special."""
    smallest = None
    for size in range(_SIZE_SEARCH_LIMIT, 0, -1):
        if side_of(size) < 1:
            break
        smallest = size
    if smallest is None:
        return f"no size up to {_SIZE_SEARCH_LIMIT} works"
    special = side_of(MNIST_SIDE) >= 1 and MNIST_SIDE < smallest
    prefix = f"{MNIST_SIDE}x{MNIST_SIDE} and " if special else ""
    return f"it takes {prefix}any size from {smallest}x{smallest} up"


# Layer tables: name -> factory. Norm factories take (channels, side) since layer norm spans C,H,W.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "leakyrelu": lambda: nn.LeakyReLU(negative_slope=0.01),
    "swish": nn.SiLU,  # SiLU is x * sigmoid(x), the swish of the DC code
}

NORMS: dict[str, Callable[[int, int], nn.Module | None]] = {
    "none": lambda c, side: None,
    "batchnorm": lambda c, side: nn.BatchNorm2d(c),
    "layernorm": lambda c, side: nn.LayerNorm([c, side, side]),
    "instancenorm": lambda c, side: nn.GroupNorm(c, c, affine=True),  # one group per channel
    "groupnorm": lambda c, side: nn.GroupNorm(4, c, affine=True),
}

POOLS: dict[str, Callable[[], nn.Module | None]] = {
    "none": lambda: None,
    "avgpool": lambda: nn.AvgPool2d(kernel_size=2, stride=2),
    "maxpool": lambda: nn.MaxPool2d(kernel_size=2, stride=2),
}

GROUPNORM_GROUPS = 4


def norm_layer(norm: str, channels: int, side: int) -> list[nn.Module]:
    """The norm layer as a 0- or 1-element list, ready to splice into a layer list."""
    layer = lookup(NORMS, norm, "norm")(channels, side)
    return [] if layer is None else [layer]


def check_norm_fits(arch: str, norm: str, channels: int) -> None:
    lookup(NORMS, norm, "norm")  # unknown name -> ValueError listing the known ones
    if norm == "groupnorm" and channels % GROUPNORM_GROUPS:
        raise ValueError(f"{arch}: group norm needs a width divisible by {GROUPNORM_GROUPS}, got {channels}")
