"""DC (gradient matching, ICLR 2021) and DSA (DC + siamese augmentation, ICML 2021).

`gradient_matching` is one outer iteration of the DC paper's Algorithm 1 on a freshly initialised
net; the helpers below it compute each line. The synthetic side (ipc images per class) is one
`vmap` over classes; the real side (up to batch_real images per class) stays a loop over classes,
because vmap turns its large per-class batches into grouped convolutions, slower on CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from raydd.core.archs import has_batchnorm
from raydd.core.distill.state import IterationState


def gradient_matching(s: IterationState, net: nn.Module, augment: bool) -> torch.Tensor:
    """Match per-class gradients of real and synthetic images `outer_loop` times, training the net
    on the synthetic set in between; returns DC's reported loss (mean distance per class and step)."""
    settings = s.settings
    params = list(net.parameters())
    net_optimizer = torch.optim.SGD(params, lr=settings.lr_net, momentum=settings.momentum_net)
    batchnorm = has_batchnorm(net)
    total = torch.zeros((), device=s.images.device)
    for step in range(settings.outer_loop):
        if batchnorm:
            freeze_batchnorm_on_real(s, net)
        real, weights, syn = s.class_batches(augment)
        g_real = real_gradients(s, net, params, real, weights)
        g_syn = synthetic_gradients(s, net, syn)
        loss = s.distance(g_syn, g_real).sum()
        s.step_images(loss)
        total += loss.detach()
        if step == settings.outer_loop - 1:
            break
        train_net_on_synthetic(s, net, net_optimizer, augment)
    return total / (s.num_classes * settings.outer_loop)


def freeze_batchnorm_on_real(s: IterationState, net: nn.Module) -> None:
    """DC: set BatchNorm running stats from a mixed real batch, then use them (eval-mode BN)."""
    idx, _ = s.sampler.sample(s.settings.bn_batch_per_class, s.data_generator)
    net.train()
    with torch.no_grad():
        net(s.real_images[idx.flatten()])
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def real_gradients(s: IterationState, net: nn.Module, params: list[torch.Tensor],
                   real: list[torch.Tensor], weights: torch.Tensor) -> list[torch.Tensor]:
    """Per-class gradients of the weighted CE, stacked [K, *param_shape]."""
    forward = s.first_order(net)
    per_class = []
    for c, x in enumerate(real):
        loss = (F.cross_entropy(forward(x), s.class_labels[c].expand(x.shape[0]), reduction="none")
                * weights[c]).sum()
        per_class.append(torch.autograd.grad(loss, params))
    return [torch.stack(g) for g in zip(*per_class)]


def _weighted_ce(net: nn.Module, params: dict, x: torch.Tensor, label: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    logits = functional_call(net, params, (x,))
    labels = label.expand(x.shape[0])
    return (F.cross_entropy(logits, labels, reduction="none") * weights).sum()


def synthetic_gradients(s: IterationState, net: nn.Module, syn: torch.Tensor) -> list[torch.Tensor]:
    """Per-class gradients on the synthetic images [K, ipc, C, H, W], differentiable in `syn`."""
    params = {name: p.detach() for name, p in net.named_parameters()}
    uniform = torch.full(syn.shape[:2], 1.0 / syn.shape[1], device=syn.device)
    per_class = vmap(grad(_weighted_ce, argnums=1), in_dims=(None, None, 0, 0, 0))
    grads = per_class(net, params, syn, s.class_labels, uniform)
    return [grads[name] for name, _ in net.named_parameters()]


def train_net_on_synthetic(s: IterationState, net: nn.Module, optimizer: torch.optim.Optimizer,
                           augment: bool) -> None:
    """`inner_loop` epochs of SGD on the synthetic set (batch_train per step), as DC's `epoch`."""
    net.train()
    forward = s.first_order(net)
    images, labels = s.images.detach(), s.labels
    total, batch = len(labels), s.settings.batch_train
    for _ in range(s.settings.inner_loop):
        # A single full batch needs no shuffle: the mean loss does not depend on the order.
        order = None if total <= batch else torch.randperm(total, generator=s.data_generator,
                                                           device=labels.device)
        for start in range(0, total, batch):
            sel = slice(start, start + batch) if order is None else order[start:start + batch]
            x, y = images[sel], labels[sel]
            if augment:  # DSA trains the inner net on augmented images, parameters per image
                x = s.dsa.apply(x, s.dsa.sample(len(x), s.augment_generator))
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(forward(x), y).backward()
            optimizer.step()
