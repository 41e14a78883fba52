"""The unrolled student of trajectory matching and its loss, shared by the MTT step and its
memory estimate (which runs it on the meta device)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from raydd.core.augment import DSA, DSAParams
from raydd.core.experts import ParamLayout, Trajectory


@dataclass(frozen=True, eq=False)
class StudentStep:
    """One student SGD step: which synthetic images (CPU indices) and their DSA draw (or None)."""

    indices: torch.Tensor
    augment: DSAParams | None


def matching_loss(net: nn.Module, layout: ParamLayout, trajectory: Trajectory, start_epoch: int,
                  expert_epochs: int, images: torch.Tensor, labels: torch.Tensor, syn_lr: torch.Tensor,
                  steps: Sequence[StudentStep], dsa: DSA | None) -> torch.Tensor:
    """The normalised parameter distance after unrolling `steps` from the expert's `start_epoch`."""
    start = trajectory.params_at(start_epoch).to(images.device)
    target = trajectory.params_at(start_epoch + expert_epochs).to(images.device)
    student = start.clone().requires_grad_(True)
    for step in steps:
        index = step.indices.to(images.device, non_blocking=True)
        x = images[index]
        if step.augment is not None:
            x = dsa.apply(x, step.augment)
        logits = functional_call(net, layout.unflatten(student), (x,))
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, labels[index]), student, create_graph=True)
        student = student - syn_lr * grad
    numel = layout.numel
    distance = F.mse_loss(student, target, reduction="sum") / numel
    expert_move = F.mse_loss(start, target, reduction="sum") / numel
    return distance / expert_move
