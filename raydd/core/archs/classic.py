"""MLP, LeNet, and the plain conv stacks (AlexNet, VGG) of the dataset-condensation papers."""

from __future__ import annotations

from torch import nn

from raydd.core.archs.layers import (
    ArchNet,
    check_inputs,
    check_norm_fits,
    conv_side,
    extra_pad,
    norm_layer,
    pool_side,
    require_side,
)

MLP_HIDDEN = 128  # two hidden layers of 128, as in the DC code


class MLP(ArchNet):
    """Flatten -> 128 -> 128 -> classes, ReLU between."""

    def __init__(self, channels: int, num_classes: int, image_size: int, *, arch: str = "MLP") -> None:
        super().__init__()
        check_inputs(arch, channels, num_classes, image_size)
        self.fc_1 = nn.Linear(channels * image_size * image_size, MLP_HIDDEN)
        self.fc_2 = nn.Linear(MLP_HIDDEN, MLP_HIDDEN)
        self.act = nn.ReLU(inplace=True)
        self.embed_dim = MLP_HIDDEN
        self.classifier = nn.Linear(MLP_HIDDEN, num_classes)

    def embed(self, x):
        return self.act(self.fc_2(self.act(self.fc_1(x.flatten(1)))))


class LeNet(ArchNet):
    """conv5(6) -> pool -> conv5(16) -> pool -> 120 -> 84 -> classes; 28-px input is padded to 32."""

    def __init__(self, channels: int, num_classes: int, image_size: int, *, arch: str = "LeNet") -> None:
        super().__init__()
        check_inputs(arch, channels, num_classes, image_size)
        side = require_side(arch, image_size, self._feature_side)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=extra_pad(image_size)), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(inplace=True),
                                  nn.Linear(120, 84), nn.ReLU(inplace=True))
        self.embed_dim = 84
        self.classifier = nn.Linear(84, num_classes)

    @staticmethod
    def _feature_side(image_size: int) -> int:
        side = pool_side(conv_side(image_size, 5, pad=extra_pad(image_size)))
        return pool_side(conv_side(side, 5))

    def embed(self, x):
        return self.head(self.features(x))


# Conv stacks: (out_channels, kernel) is conv -> norm -> ReLU with same-size padding; "M" is a 2x2 max pool.
ALEXNET_LAYERS = ((128, 5), "M", (192, 5), "M", (256, 3), (192, 3), (192, 3), "M")
VGG11_LAYERS = ((64, 3), "M", (128, 3), "M", (256, 3), (256, 3), "M",
                (512, 3), (512, 3), "M", (512, 3), (512, 3), "M")


class ConvStack(ArchNet):
    """A plain conv stack from a layer table, then one linear layer on the flattened map.

    AlexNet and VGG11 (and their norm variants) are rows of this class. The first conv adds the
    28 -> 32 padding so MNIST-sized inputs end in the same map as 32-px ones.
    """

    def __init__(self, channels: int, num_classes: int, image_size: int, *,
                 layers: tuple = ALEXNET_LAYERS, norm: str = "none", arch: str = "ConvStack") -> None:
        super().__init__()
        check_inputs(arch, channels, num_classes, image_size)
        convs = [item for item in layers if item != "M"]
        for out_channels, _ in convs:
            check_norm_fits(arch, norm, out_channels)
        side = require_side(arch, image_size, lambda s: self._plan(s, layers)[-1][2])
        self.features = self._layers(channels, self._plan(image_size, layers), norm)
        self.embed_dim = convs[-1][0] * side * side
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    @staticmethod
    def _plan(image_size: int, layers: tuple) -> list[tuple]:
        """Each layer-table item with its padding and the map side after it (0 once it vanishes)."""
        plan, side = [], image_size
        for item in layers:
            if item == "M":
                side = pool_side(side)
                plan.append((item, 0, side))
                continue
            pad = item[1] // 2 + (extra_pad(image_size) if not plan else 0)
            side = conv_side(side, item[1], pad=pad)
            plan.append((item, pad, side))
        return plan

    @staticmethod
    def _layers(channels: int, plan: list[tuple], norm: str) -> nn.Sequential:
        modules: list[nn.Module] = []
        in_channels = channels
        for item, pad, side in plan:
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            out_channels, kernel = item
            modules.append(nn.Conv2d(in_channels, out_channels, kernel_size=kernel, padding=pad))
            modules += norm_layer(norm, out_channels, side)
            modules.append(nn.ReLU(inplace=True))
            in_channels = out_channels
        return nn.Sequential(*modules)

    def embed(self, x):
        return self.features(x).flatten(1)
