"""Several independent nets of one architecture trained as one wide net with grouped layers.

M members become one module whose every layer holds the M layers side by side: a conv becomes
one conv with `groups = M` (member m owns input and output channels [m*C, (m+1)*C)), a norm one
norm with M times the groups or channels, a linear layer one batched matmul. Activations are laid
out [B, M*C, H, W], member-major, so the architectures' own forward code (flatten, pooling,
residual adds) runs unchanged. Every op stays per member, batch-norm statistics and running stats
included; the loss is a sum of per-member losses, so a member's gradient comes from its own term
only, and a member that diverges to NaN leaves the others untouched.

This is `torch.func.stack_module_state` + `vmap` done by hand: native grouped kernels instead of
vmap's batching rules, and as precise as training each member alone (tests/test_evaluate_stack.py
compares every member with its own sequential training).

A stack and a single net share one interface, `Members`, so one training loop serves both:
`model(x)` maps inputs [M, B, ...] (or one batch [B, ...] shared by every member) to logits
[M, B, classes].
"""

from __future__ import annotations

import copy
from typing import Callable, Protocol, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class Members(Protocol):
    size: int

    def __call__(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor: ...

    def parameters(self) -> list[torch.Tensor]: ...

    def train(self, mode: bool = True) -> None: ...


class OneNet:
    """A single net behind the `Members` interface."""

    size = 1

    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def __call__(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        return self.net(x if shared else x[0]).unsqueeze(0)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.net.parameters())

    def train(self, mode: bool = True) -> None:
        self.net.train(mode)


class GroupedLinear(nn.Module):
    """M linear layers: input [B, M*in] (member-major) -> output [B, M*out].

    The weights are kept transposed, [M, in, out], the layout `baddbmm` multiplies by and its
    backward produces: no copy of the (often largest) weight gradient at every step.
    """

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.members = len(layers)
        self.weight_t = nn.Parameter(torch.stack([l.weight.detach().t() for l in layers]).contiguous())
        self.bias = nn.Parameter(torch.stack([l.bias.detach() for l in layers]))  # [M, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        x = x.reshape(batch, self.members, -1).transpose(0, 1)  # [M, B, in]
        out = torch.baddbmm(self.bias.unsqueeze(1), x, self.weight_t)
        return out.transpose(0, 1).reshape(batch, -1)

    def member_state(self, i: int) -> dict[str, torch.Tensor]:
        return {"weight": self.weight_t[i].t(), "bias": self.bias[i]}


class GroupedLayerNorm(nn.Module):
    """M LayerNorms over [C, H, W]: one group norm with M groups, then each member's own affine."""

    def __init__(self, layers: Sequence[nn.LayerNorm]) -> None:
        super().__init__()
        self.members, self.eps = len(layers), layers[0].eps
        self.weight = nn.Parameter(torch.cat([l.weight.detach() for l in layers]))  # [M*C, H, W]
        self.bias = nn.Parameter(torch.cat([l.bias.detach() for l in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.members, eps=self.eps) * self.weight + self.bias


def _joined(tensors: list[torch.Tensor], requires_grad: bool) -> torch.Tensor:
    joined = torch.cat([t.detach() for t in tensors])
    return nn.Parameter(joined) if requires_grad else joined


def _grouped_conv(layers: Sequence[nn.Conv2d]) -> nn.Conv2d:
    first, m = layers[0], len(layers)
    if first.padding_mode != "zeros":
        raise ValueError(f"cannot stack a conv with padding_mode {first.padding_mode!r}")
    conv = nn.Conv2d(m * first.in_channels, m * first.out_channels, first.kernel_size, first.stride,
                     first.padding, first.dilation, m * first.groups, first.bias is not None)
    conv.weight = _joined([l.weight for l in layers], True)
    if first.bias is not None:
        conv.bias = _joined([l.bias for l in layers], True)
    return conv


def _grouped_group_norm(layers: Sequence[nn.GroupNorm]) -> nn.GroupNorm:
    first, m = layers[0], len(layers)
    norm = nn.GroupNorm(m * first.num_groups, m * first.num_channels, first.eps, first.affine)
    if first.affine:
        norm.weight, norm.bias = _joined([l.weight for l in layers], True), _joined([l.bias for l in layers], True)
    return norm


def _grouped_batch_norm(layers: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    first, m = layers[0], len(layers)
    norm = nn.BatchNorm2d(m * first.num_features, first.eps, first.momentum, first.affine,
                          first.track_running_stats)
    if first.affine:
        norm.weight, norm.bias = _joined([l.weight for l in layers], True), _joined([l.bias for l in layers], True)
    if first.track_running_stats:
        norm.running_mean = _joined([l.running_mean for l in layers], False)
        norm.running_var = _joined([l.running_var for l in layers], False)
        norm.num_batches_tracked = first.num_batches_tracked.clone()
    return norm


# Layers with weights, and how M of them become one; weight-free layers (activations, pooling,
# flatten, containers) act per channel or per element and are kept as they are.
GROUPED_LAYERS: dict[type, Callable[[Sequence[nn.Module]], nn.Module]] = {
    nn.Conv2d: _grouped_conv,
    nn.Linear: GroupedLinear,
    nn.GroupNorm: _grouped_group_norm,
    nn.BatchNorm2d: _grouped_batch_norm,
    nn.LayerNorm: GroupedLayerNorm,
}


def _grouped(nets: Sequence[nn.Module]) -> nn.Module:
    """A copy of nets[0] with every weighted layer replaced by the grouped layer of all members
    (whose tensors are joined copies of the members', on their device)."""
    wide = copy.deepcopy(nets[0])
    for name, module in list(wide.named_modules()):
        if type(module) in GROUPED_LAYERS:
            layers = [net.get_submodule(name) for net in nets]
            parent, _, leaf = name.rpartition(".")
            setattr(wide.get_submodule(parent), leaf, GROUPED_LAYERS[type(module)](layers))
        elif any(True for _ in module.parameters(recurse=False)):
            raise ValueError(f"cannot stack nets holding a {type(module).__name__} layer")
    return wide


class NetStack:
    """M nets of one architecture as one wide net with grouped layers (see the module docstring).

    Build the nets as usual (seeded, on the device), then stack them; `net(i)` gives member i
    back as an ordinary module.
    """

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        kinds = {type(n) for n in nets}
        if not nets or len(kinds) != 1:
            raise ValueError(f"a stack needs one or more nets of one class, got {sorted(k.__name__ for k in kinds)}")
        self.size = len(nets)
        self.template = copy.deepcopy(nets[0])
        self.wide = _grouped(nets)

    def __call__(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        if shared:
            x = x.repeat(1, self.size, *[1] * (x.dim() - 2))  # every member's channels: the same images
        else:
            x = x.transpose(0, 1).flatten(1, 2)  # [M, B, C, ...] -> [B, M*C, ...]
        out = self.wide(x)
        return out.view(out.shape[0], self.size, -1).transpose(0, 1)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.wide.parameters())

    def train(self, mode: bool = True) -> None:
        self.wide.train(mode)

    def net(self, i: int) -> nn.Module:
        """Member i as an ordinary module (a copy of its weights and buffers), in eval mode."""
        net = copy.deepcopy(self.template)
        wide, state = self.wide.state_dict(), {}
        for key, own in net.state_dict().items():
            parent, _, leaf = key.rpartition(".")
            layer = self.wide.get_submodule(parent)
            if isinstance(layer, GroupedLinear):
                state[key] = layer.member_state(i)[leaf]
            else:  # a joined tensor holds the members' tensors one after another (or one shared counter)
                state[key] = wide[key] if wide[key].shape == own.shape else wide[key].reshape(self.size, *own.shape)[i]
        net.load_state_dict(state)
        return net.eval()

    def select(self, members: Sequence[int]) -> "NetStack":
        """A stack of the given members only (copies), e.g. to test the chosen KD candidates."""
        return NetStack([self.net(i) for i in members])
