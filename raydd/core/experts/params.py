"""A net's parameters as one flat vector, and which architectures trajectory matching can unroll.

An expert trajectory stores, per epoch, the parameters of its net concatenated in
`named_parameters()` order; MTT's student runs the same net functionally from views of such a
vector (`torch.func.functional_call`), as the reference does with its `ReparamModule`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raydd.core.archs import build_net


@dataclass(frozen=True)
class ParamLayout:
    """Names and shapes of a net's parameters, in the order of its flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, net: nn.Module) -> "ParamLayout":
        named = list(net.named_parameters())
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def sizes(self) -> list[int]:
        return [int(torch.Size(s).numel()) for s in self.shapes]

    @property
    def numel(self) -> int:
        return sum(self.sizes)

    def flatten(self, net: nn.Module) -> torch.Tensor:
        """The net's current parameters as one detached vector [numel]."""
        return torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of `flat` shaped as the parameters, by name (gradients flow back into `flat`)."""
        return {name: piece.view(shape)
                for name, piece, shape in zip(self.names, flat.split(self.sizes), self.shapes)}

    def to_list(self) -> list[list]:
        return [[name, list(shape)] for name, shape in zip(self.names, self.shapes)]

    @classmethod
    def from_list(cls, items: list) -> "ParamLayout":
        return cls(tuple(str(n) for n, _ in items), tuple(tuple(int(s) for s in shape) for _, shape in items))


def unroll_problem(net: nn.Module) -> str | None:
    """Why trajectory matching cannot unroll `net`, or None.

    Buffers are the obstacle (in raydd's nets: BatchNorm's running statistics). A trajectory stores
    parameters only, as the reference's does, so a student started from an expert epoch would have
    no statistics of that epoch; and a functional unroll would update the module's own buffers in
    place at every student step, outside the graph being differentiated. The reference lets both
    happen silently; raydd refuses.
    """
    buffers = [name for name, _ in net.named_buffers()]
    if buffers:
        return (f"it keeps running statistics in buffers ({', '.join(buffers[:2])}"
                f"{', ...' if len(buffers) > 2 else ''}), which an expert trajectory does not record and "
                "a functional unroll would update in place")
    return None


def check_unrollable(arch: str, channels: int, num_classes: int, image_size: int) -> ParamLayout:
    """The layout of `arch` for these images, or a ValueError in one line saying why MTT cannot use it."""
    with torch.random.fork_rng(devices=[]):  # a throw-away build must not move the caller's RNG
        net = build_net(arch, channels, num_classes, image_size)
    problem = unroll_problem(net)
    if problem:
        raise ValueError(f"{arch} cannot be unrolled by trajectory matching: {problem}; "
                         "choose a variant without BatchNorm (e.g. instance norm)")
    return ParamLayout.of(net)
