"""DM (distribution matching, WACV 2023): match per-class mean embeddings of a random, untrained net.

Real and synthetic images of a class share one DSA draw; each side goes through the net in one
forward over all classes concatenated (the DM code does so for BatchNorm nets; for the others it
is the same numbers in fewer, larger kernels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from raydd.core.distill.methods import METHODS, Method

if TYPE_CHECKING:
    from raydd.core.distill.distiller import Distiller


def distribution_matching_iteration(run: "Distiller", net: nn.Module) -> torch.Tensor:
    net.train()  # as the DM code; BatchNorm then uses the batch statistics
    for p in net.parameters():
        p.requires_grad_(False)
    k, ipc = run.num_classes, run.cfg.ipc
    idx, weights = run.sampler.sample(run.cfg.batch_real, run.data_generator)
    syn = run.images.view(k, ipc, *run.images.shape[1:])
    draws = [run.dsa.sample(1, run.augment_generator) for _ in range(k)]
    real = torch.cat([run.dsa.apply(run.real_images[i], d) for i, d in zip(idx, draws)])
    syn = torch.cat([run.dsa.apply(s, d) for s, d in zip(syn, draws)])
    with torch.no_grad():
        emb_real = net.embed(real).view(k, idx.shape[1], -1)
        mean_real = (emb_real * weights[..., None]).sum(1)
    mean_syn = net.embed(syn).view(k, ipc, -1).mean(1)
    loss = ((mean_real - mean_syn) ** 2).sum()
    # grad w.r.t. the images only: backward() would also fill the net's .grad for nothing.
    run.images.grad = torch.autograd.grad(loss, run.images)[0]
    run.image_optimizer.step()
    return loss.detach() / k  # the DM code's reported loss_avg


METHODS.add("dm", Method("dm", distribution_matching_iteration, uses_dsa=True,
                         description="distribution matching (DM, WACV 2023)"))
