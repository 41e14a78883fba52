"""The training loop shared by teachers and students, and accuracy on a split.

Small sets stay on the device as one tensor: no DataLoader, one generator-driven `randperm`
per epoch, and no host synchronisation inside the loop (no `.item()` per step).
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from raydd.core.evaluate.config import EvalConfig
from raydd.core.evaluate.kd import kd_loss

EpochHook = Callable[[int, torch.optim.Optimizer], None]


def freeze(net: nn.Module) -> nn.Module:
    """`net` in eval mode with no parameter asking for gradients: a teacher, read-only beside its students."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


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
    """Train `net` in place by the protocol of `cfg`; returns the seconds it took.

    With a `teacher`, the loss is `kd_loss` against the teacher's logits on the very same
    augmented batch; the teacher stays in eval mode and receives no gradients.
    `on_epoch(epoch, optimizer)` is called after the epoch's learning rate is set.
    """
    augment = _augmentation(cfg.augment)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    if teacher is not None:
        teacher.eval()
    # Without augmentation the teacher (frozen, eval mode) sees the same images every epoch:
    # its logits are computed once instead of at every step.
    fixed_teacher_logits = _logits(teacher, images, cfg) if teacher is not None and cfg.augment == "none" else None
    batches = _batches(len(images), cfg.batch_size)
    net.train()
    started = time.perf_counter()
    for epoch in range(cfg.resolved_epochs):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(epoch)
        if on_epoch is not None:
            on_epoch(epoch, optimizer)
        order = torch.randperm(len(images), generator=generator).to(images.device, non_blocking=True)
        for start, stop in batches:
            index = order[start:stop]
            x = augment(images[index], generator)
            y = labels[index]
            logits = net(x)
            if teacher is None:
                loss = F.cross_entropy(logits, y)
            else:
                if fixed_teacher_logits is not None:
                    teacher_logits = fixed_teacher_logits[index]
                else:
                    with torch.no_grad():
                        teacher_logits = teacher(x)
                loss = kd_loss(logits, teacher_logits, y, alpha, temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if images.is_cuda:
        torch.cuda.synchronize(images.device)
    net.eval()
    return time.perf_counter() - started


@torch.no_grad()
def _logits(net: nn.Module, images: torch.Tensor, cfg: EvalConfig) -> torch.Tensor:
    return torch.cat([net(images[s : s + cfg.eval_batch_size]) for s in range(0, len(images), cfg.eval_batch_size)])


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """Arg-max predictions of `net` in eval mode, in large batches without gradients."""
    net.eval()
    out = [
        net(images[s : s + batch_size].to(device, non_blocking=True)).argmax(dim=1)
        for s in range(0, len(images), batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=device)


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device) -> float:
    """Fraction of `images` that `net` labels correctly (NaN for an empty split)."""
    if len(images) == 0:
        return float("nan")
    predictions = predict(net, images, batch_size, device)
    return (predictions == labels.to(device)).sum().item() / len(labels)
