"""DM (distribution matching, WACV 2023): match per-class mean embeddings of a random, untrained net.

Real and synthetic images of a class share one DSA draw. BatchNorm nets see the real images of all
classes in one forward, as the DM code does, since their batch statistics depend on it; other nets
embed the real images class by class, which gives the same numbers (and runs faster on CPU, see
benchmarks/README.md).
"""

from __future__ import annotations

import torch
from torch import nn

from raydd.core.archs import has_batchnorm
from raydd.core.distill.state import IterationState


def distribution_matching(s: IterationState, net: nn.Module) -> torch.Tensor:
    """One image step down the distance between class-mean embeddings; returns DM's reported loss."""
    net.train()  # as the DM code; BatchNorm then uses the batch statistics
    for p in net.parameters():
        p.requires_grad_(False)
    embed = s.first_order(net.embed)
    real, weights, syn = s.class_batches(augment=True)
    with torch.no_grad():
        if has_batchnorm(net):
            emb_real = embed(torch.cat(real)).view(s.num_classes, weights.shape[1], -1)
        else:
            emb_real = torch.stack([embed(x) for x in real])
        mean_real = (emb_real * weights[..., None]).sum(1)
    mean_syn = embed(syn.flatten(0, 1)).view(s.num_classes, s.settings.ipc, -1).mean(1)
    loss = ((mean_real - mean_syn) ** 2).sum()
    s.step_images(loss)
    return loss.detach() / s.num_classes
