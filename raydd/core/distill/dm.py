"""DM (distribution matching, WACV 2023): match per-class mean embeddings of a random, untrained net.

Real and synthetic images of a class share one DSA draw. BatchNorm nets see the real images of all
classes in one forward, as the DM code does, since their batch statistics depend on it; other nets
embed the real images class by class, which gives the same numbers and, measured on CPU, ran faster
than one forward over all classes (a batch of ~1,300 images falls out of cache).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from raydd.core.archs import has_batchnorm
from raydd.core.distill.methods import METHODS, Method

if TYPE_CHECKING:
    from raydd.core.distill.distiller import Distiller


def distribution_matching_iteration(run: "Distiller", net: nn.Module) -> torch.Tensor:
    net.train()  # as the DM code; BatchNorm then uses the batch statistics
    for p in net.parameters():
        p.requires_grad_(False)
    k, ipc = run.num_classes, run.cfg.ipc
    embed = run.first_order(net.embed)
    idx, weights = run.sampler.sample(run.cfg.batch_real, run.data_generator)
    syn = run.images.view(k, ipc, *run.images.shape[1:])
    draws = [run.dsa.sample(1, run.augment_generator) for _ in range(k)]
    real = torch.cat([run.dsa.apply(run.real_images[i], d) for i, d in zip(idx, draws)])
    syn = torch.cat([run.dsa.apply(s, d) for s, d in zip(syn, draws)])
    with torch.no_grad():
        if has_batchnorm(net):
            emb_real = embed(real).view(k, idx.shape[1], -1)
        else:
            emb_real = torch.stack([embed(chunk) for chunk in real.split(idx.shape[1])])
        mean_real = (emb_real * weights[..., None]).sum(1)
    mean_syn = embed(syn).view(k, ipc, -1).mean(1)
    loss = ((mean_real - mean_syn) ** 2).sum()
    # grad w.r.t. the images only: backward() would also fill the net's .grad for nothing.
    run.images.grad = torch.autograd.grad(loss, run.images)[0]
    run.image_optimizer.step()
    return loss.detach() / k  # the DM code's reported loss_avg


METHODS.add("dm", Method("dm", distribution_matching_iteration, uses_dsa=True,
                         description="distribution matching (DM, WACV 2023)"))
