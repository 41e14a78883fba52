"""ConvNet of the dataset-condensation papers: depth x [conv3x3 -> norm -> act -> pool], then linear.

Every ConvNet variant (width, depth, activation, norm, pooling) is a parameter of this one class.
"""

from __future__ import annotations

from torch import nn

from raydd.core.archs.layers import (
    ACTIVATIONS,
    POOLS,
    ArchNet,
    check_inputs,
    check_norm_fits,
    conv_side,
    extra_pad,
    norm_layer,
    pool_side,
    require_side,
)
from raydd.registry import lookup


class ConvNet(ArchNet):
    """Defaults are the DC/DSA/DM default: width 128, depth 3, ReLU, instance norm, average pooling."""

    def __init__(self, channels: int, num_classes: int, image_size: int, *, width: int = 128,
                 depth: int = 3, act: str = "relu", norm: str = "instancenorm", pool: str = "avgpool",
                 arch: str = "ConvNet") -> None:
        super().__init__()
        check_inputs(arch, channels, num_classes, image_size)
        if not (isinstance(width, int) and width >= 1 and isinstance(depth, int) and depth >= 1):
            raise ValueError(f"{arch}: width and depth must be integers >= 1, got {width!r}, {depth!r}")
        lookup(ACTIVATIONS, act, "activation"), lookup(POOLS, pool, "pooling")  # unknown: ValueError
        check_norm_fits(arch, norm, width)
        side = require_side(arch, image_size, lambda s: self._plan(s, depth, pool)[-1][2])
        self.features = self._layers(channels, self._plan(image_size, depth, pool), width, act, norm, pool)
        self.embed_dim = width * side * side
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    @staticmethod
    def _plan(image_size: int, depth: int, pool: str) -> list[tuple[int, int, int]]:
        """Per block: conv padding, map side after the conv, map side after the pooling (0 once gone)."""
        plan, side = [], image_size
        for d in range(depth):
            pad = 1 + (extra_pad(image_size) if d == 0 else 0)
            conv = conv_side(side, 3, pad=pad)
            side = conv if pool == "none" else pool_side(conv)
            plan.append((pad, conv, side))
        return plan

    @staticmethod
    def _layers(channels: int, plan: list[tuple[int, int, int]], width: int, act: str, norm: str,
                pool: str) -> nn.Sequential:
        layers: list[nn.Module] = []
        in_channels = channels
        for pad, conv, _ in plan:
            layers.append(nn.Conv2d(in_channels, width, kernel_size=3, padding=pad))
            layers += norm_layer(norm, width, conv)
            layers.append(ACTIVATIONS[act]())
            pooling = POOLS[pool]()
            layers += [] if pooling is None else [pooling]
            in_channels = width
        return nn.Sequential(*layers)

    def embed(self, x):
        return self.features(x).flatten(1)
