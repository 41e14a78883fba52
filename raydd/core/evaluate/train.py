"""The training loop shared by teachers and students, one net or a stack of members at once.

Small sets stay on the device as one tensor: no DataLoader, one generator-driven `randperm`
per epoch and stream, and no host synchronisation inside the loop (no `.item()` per step).
On CPU the process keeps freed memory for reuse (raydd/core/allocator.py): one inference batch of
ConvNet holds tens of MB of activations, which would otherwise be page-faulted in at every batch.

A *stream* is one generator: the batch order and augmentation draws of the members that read it.
A member trained in a stack reads the same draws, in the same order, as when trained alone with
that generator, so stacking changes the arithmetic's grouping only, never what is computed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn

from raydd.core.allocator import reuse_freed_memory_on
from raydd.core.evaluate.config import EvalConfig
from raydd.core.evaluate.kd import member_losses
from raydd.core.evaluate.speed import inference_batch_size
from raydd.core.evaluate.stack import Members, OneNet

EpochHook = Callable[[int, torch.optim.Optimizer], None]
# Called after every epoch with (epoch, the model being trained); may measure it (the training
# loop puts it back in train mode afterwards).
AfterEpoch = Callable[[int, Members], None]


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator for shuffles and augmentation draws: `raydd.core.augment` draws its few
    parameters on the CPU, and a permutation of a small set is cheap to copy to the device."""
    return torch.Generator().manual_seed(seed)


def build_seeded(name: str, info, seed: int) -> nn.Module:
    """Build architecture `name` for `info` with weights drawn from `seed`, on the CPU.

    The global RNG is forked so that building a net never disturbs anyone else's draws.
    """
    from raydd.core.archs import build_net

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_net(name, info.channels, info.num_classes, info.image_size)


def freeze(net: nn.Module) -> nn.Module:
    """A teacher as KD uses it: eval mode (fixed norm statistics), no gradients; returns `net`."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def lr_scheduler(optimizer: torch.optim.Optimizer, cfg: EvalConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """The protocol's schedule, stepped once per epoch: `lr`, times `lr_decay` from `decay_epoch`."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[cfg.decay_epoch], gamma=cfg.lr_decay)


def _augmentation(name: str):
    from raydd.core.augment import get_augmentation

    return get_augmentation(name)


def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a trailing batch of one image joins the previous one,
    because batch-norm students cannot train on a single example."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


@dataclass(frozen=True, eq=False)
class Member:
    """One training in a stack: the stream it reads, and its loss (KD when it has a teacher)."""

    stream: int = 0
    teacher: nn.Module | None = None
    alpha: float = 0.0
    temperature: float = 1.0


class TeacherTargets:
    """Each member's teacher logits on its batch; the teachers are frozen and never trained.

    Without augmentation a teacher sees the same images every epoch, so its logits on the whole
    set are computed once. With augmentation each (teacher, stream) pair runs once per step on
    that stream's augmented batch, however many members share the pair (KD candidates do).
    """

    def __init__(self, members: Sequence[Member], images: torch.Tensor, cfg: EvalConfig) -> None:
        teachers = list({id(m.teacher): m.teacher for m in members}.values())
        self.pairs = [(teachers.index(m.teacher), m.stream) for m in members]
        self.teachers = [freeze(t) for t in teachers]
        self.fixed = None
        if cfg.augment == "none":
            chunk = cfg.eval_batch_size or inference_batch_size(cfg.teacher, images.device.type)
            self.fixed = torch.stack([_logits(t, images, chunk) for t in self.teachers])
            self.which = torch.tensor([t for t, _ in self.pairs], device=images.device)
            self.streams = torch.tensor([s for _, s in self.pairs], device=images.device)

    def __call__(self, index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits [M, B, classes] for batch `index` [S, B] of the set, augmented as `x` [S, B, ...]."""
        if self.fixed is not None:
            return self.fixed[self.which.unsqueeze(1), index[self.streams]]
        with torch.no_grad():
            runs = {pair: self.teachers[pair[0]](x[pair[1]]) for pair in dict.fromkeys(self.pairs)}
        return torch.stack([runs[pair] for pair in self.pairs])


def train_members(
    model: Members,
    images: torch.Tensor,
    labels: torch.Tensor,
    cfg: EvalConfig,
    generators: Sequence[torch.Generator],
    members: Sequence[Member],
    on_epoch: EpochHook | None = None,
    after_epoch: AfterEpoch | None = None,
) -> float:
    """Train every member of `model` in place by the protocol of `cfg`; returns the seconds.

    Member m reads stream `members[m].stream`: the batch order and augmentation draws of
    `generators[stream]`. With teachers, its loss is `kd_loss` against its teacher's logits on the
    very same augmented batch. SGD with weight decay and momentum is elementwise, so one optimizer
    over the stacked weights steps every member exactly as its own optimizer would.
    `on_epoch(epoch, optimizer)` is called at the start of every epoch, its learning rate set;
    `after_epoch(epoch, model)` at its end (its time counts: it measures, it does not train).
    Labels are class indices [N] or probability rows [N, classes] (soft labels).
    """
    if len(members) != model.size:
        raise ValueError(f"{len(members)} members for a model of {model.size}")
    if len({m.teacher is None for m in members}) != 1:
        raise ValueError("members of one stack are trained all with a teacher or all without")
    reuse_freed_memory_on(images.device)
    augment = _augmentation(cfg.augment)
    # fused: one pass over each weight tensor instead of several (3x faster on a stack's large
    # weights on CPU), and elementwise the same arithmetic as the default loop.
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay, fused=True)
    scheduler = lr_scheduler(optimizer, cfg)
    targets = TeacherTargets(members, images, cfg) if members[0].teacher is not None else None
    streams = torch.tensor([m.stream for m in members], device=images.device)
    alpha = torch.tensor([m.alpha for m in members], device=images.device)
    temperature = torch.tensor([m.temperature for m in members], device=images.device)
    one_per_member = [m.stream for m in members] == list(range(len(generators)))
    batches = _batches(len(images), cfg.batch_size)
    model.train(True)
    started = time.perf_counter()
    for epoch in range(cfg.resolved_epochs):
        if on_epoch is not None:
            on_epoch(epoch, optimizer)
        orders = torch.stack([torch.randperm(len(images), generator=g) for g in generators])
        orders = orders.to(images.device, non_blocking=True)
        for start, stop in batches:
            index = orders[:, start:stop]  # [streams, B]
            x = torch.stack([augment(images[i], g) for i, g in zip(index, generators)])
            if len(generators) == 1:  # every member reads one batch: run it once, unexpanded
                logits = model(x[0], shared=True)
            else:
                logits = model(x if one_per_member else x[streams])
            y = labels[index[streams]]
            teacher_logits = None if targets is None else targets(index, x)
            loss = member_losses(logits, y, teacher_logits, alpha, temperature).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
        if after_epoch is not None:
            after_epoch(epoch, model)
            model.train(True)
    if images.is_cuda:
        torch.cuda.synchronize(images.device)
    model.train(False)
    return time.perf_counter() - started


def train_net(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    cfg: EvalConfig,
    generator: torch.Generator,
    *,
    teacher: nn.Module | None = None,
    alpha: float = 0.0,
    temperature: float = 1.0,
    on_epoch: EpochHook | None = None,
) -> float:
    """Train one `net` in place (`train_members` with a single member); returns the seconds."""
    member = Member(0, teacher, alpha, temperature)
    return train_members(OneNet(net), images, labels, cfg, [generator], [member], on_epoch)


@torch.no_grad()
def _logits(net: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([net(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])


@torch.inference_mode()
def member_predictions(model: Members, images: torch.Tensor, batch_size: int,
                       layout: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Arg-max predictions [M, N] of every member in eval mode, `batch_size` images at a time,
    each batch in memory `layout` (the model's weights already in it)."""
    reuse_freed_memory_on(images.device)
    model.train(False)
    out = [model(images[s : s + batch_size].contiguous(memory_format=layout), shared=True).argmax(dim=2)
           for s in range(0, len(images), batch_size)]
    if not out:
        return torch.empty(model.size, 0, dtype=torch.long, device=images.device)
    return torch.cat(out, dim=1)


def member_accuracies(model: Members, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                      channels_last: bool = False) -> list[float]:
    """Fraction of `images` each member labels correctly (NaN for an empty split); with
    `channels_last`, a lone net's weights are moved to that layout first (the speed rule's choice)."""
    if len(images) == 0:
        return [float("nan")] * model.size
    layout = torch.contiguous_format
    if channels_last and isinstance(model, OneNet):  # grouped convs of a stack: not measured, kept NCHW
        model.net.to(memory_format=torch.channels_last)
        layout = torch.channels_last
    correct = (member_predictions(model, images, batch_size, layout) == labels).sum(dim=1)
    return [c / len(labels) for c in correct.tolist()]


def predict(net: nn.Module, images: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """Arg-max predictions of one `net` in eval mode, without gradients."""
    return member_predictions(OneNet(net), images.to(device), batch_size)[0]
