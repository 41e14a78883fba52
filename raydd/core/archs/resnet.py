"""ResNet of the dataset-condensation papers (CIFAR-style stem: one 3x3 conv, no max pool).

`downsample="stride"` is the usual ResNet: stride-2 convs, then global average pooling.
`downsample="avgpool"` is the DC code's `_AP` variant: stride-1 convs followed by 2x2 average
pooling (also on the shortcut), and the classifier reads the flattened final map.
"""

from __future__ import annotations

import torch
from torch import nn

from raydd.core.archs.layers import (
    ArchNet,
    check_inputs,
    check_norm_fits,
    conv_side,
    norm_layer,
    pool_side,
    require_side,
)

RESNET18_BLOCKS = (2, 2, 2, 2)
STAGE_WIDTHS = (64, 128, 256, 512)
DOWNSAMPLES = ("stride", "avgpool")


def _down_side(side: int, stride: int, downsample: str) -> int:
    if stride == 1:
        return side
    return conv_side(side, 3, stride=stride, pad=1) if downsample == "stride" else pool_side(side)


def _norm(norm: str, channels: int, side: int) -> nn.Module:
    return nn.Sequential(*norm_layer(norm, channels, side))  # empty Sequential = identity


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; a 1x1 projection when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int, side_in: int, norm: str,
                 downsample: str) -> None:
        super().__init__()
        conv_stride = stride if downsample == "stride" else 1
        side_conv1 = conv_side(side_in, 3, stride=conv_stride, pad=1)
        self.side_out = _down_side(side_in, stride, downsample)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=conv_stride, padding=1, bias=False)
        self.norm1 = _norm(norm, planes, side_conv1)
        self.pool = nn.AvgPool2d(2, 2) if conv_stride != stride else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.norm2 = _norm(norm, planes, self.side_out)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = self._shortcut(in_planes, planes, stride, conv_stride, norm)

    def _shortcut(self, in_planes: int, planes: int, stride: int, conv_stride: int, norm: str) -> nn.Module:
        if stride == 1 and in_planes == planes:
            return nn.Identity()
        layers = [nn.Conv2d(in_planes, planes, 1, stride=conv_stride, bias=False)]
        layers += [nn.AvgPool2d(2, 2)] if conv_stride != stride else []
        return nn.Sequential(*layers, _norm(norm, planes, self.side_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.act(self.norm1(self.conv1(x))))
        out = self.norm2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet(ArchNet):
    """Stem -> four stages of BasicBlocks (widths 64..512) -> classifier."""

    def __init__(self, channels: int, num_classes: int, image_size: int, *,
                 blocks: tuple[int, ...] = RESNET18_BLOCKS, norm: str = "instancenorm",
                 downsample: str = "stride", arch: str = "ResNet") -> None:
        super().__init__()
        check_inputs(arch, channels, num_classes, image_size)
        if downsample not in DOWNSAMPLES:
            raise ValueError(f"{arch}: unknown downsample {downsample!r}; known: {', '.join(DOWNSAMPLES)}")
        if len(blocks) != len(STAGE_WIDTHS) or not all(isinstance(n, int) and n >= 1 for n in blocks):
            raise ValueError(f"{arch}: blocks must be {len(STAGE_WIDTHS)} integers >= 1, got {blocks!r}")
        for width in STAGE_WIDTHS:
            check_norm_fits(arch, norm, width)
        side = require_side(arch, image_size, lambda s: self._feature_side(s, blocks, downsample))
        self.stem = nn.Sequential(nn.Conv2d(channels, STAGE_WIDTHS[0], 3, padding=1, bias=False),
                                  _norm(norm, STAGE_WIDTHS[0], image_size), nn.ReLU(inplace=True))
        self.stages = self._stages(image_size, blocks, norm, downsample)
        self.global_pool = downsample == "stride"
        self.embed_dim = STAGE_WIDTHS[-1] * (1 if self.global_pool else side * side)
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    @staticmethod
    def _strides(blocks: tuple[int, ...]) -> list[int]:
        """Stride of every block: 2 on the first block of each stage after the first."""
        return [2 if stage and b == 0 else 1 for stage, n in enumerate(blocks) for b in range(n)]

    @classmethod
    def _feature_side(cls, image_size: int, blocks: tuple[int, ...], downsample: str) -> int:
        side = image_size
        for stride in cls._strides(blocks):
            side = _down_side(side, stride, downsample)
        return side

    @classmethod
    def _stages(cls, image_size: int, blocks: tuple[int, ...], norm: str, downsample: str) -> nn.Sequential:
        widths = [w for w, n in zip(STAGE_WIDTHS, blocks) for _ in range(n)]
        layers, in_planes, side = [], STAGE_WIDTHS[0], image_size
        for planes, stride in zip(widths, cls._strides(blocks)):
            block = BasicBlock(in_planes, planes, stride, side, norm, downsample)
            layers.append(block)
            in_planes, side = planes, block.side_out
        return nn.Sequential(*layers)

    def embed(self, x):
        out = self.stages(self.stem(x))
        return out.mean(dim=(2, 3)) if self.global_pool else out.flatten(1)
