"""DC (gradient matching, ICLR 2021) and DSA (DC + siamese augmentation, ICML 2021).

One outer iteration on a freshly initialised net: `outer_loop` times, match per class the gradient
of CE on a real batch and on the class's synthetic images, step the images on the summed class
distances, then (except after the last step) train the net `inner_loop` epochs on the synthetic set.

Speed, measured on CPU (see benchmarks/bench_distill.py): the real-side gradients run class by
class (vmap over classes turns conv weight-gradients into slow grouped convolutions on CPU), the
synthetic side is one `vmap(grad)` over classes (2x faster there, and its double backward runs
once), and nothing reads a value back to the host until the iteration's loss. With `compile=True`
the real side and the inner loop run through `torch.compile` (see compiled.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from raydd.core.archs import has_batchnorm
from raydd.core.distill.methods import METHODS, Method

if TYPE_CHECKING:
    from raydd.core.distill.distiller import Distiller


def _weighted_ce(net: nn.Module, params: dict, x: torch.Tensor, label: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    logits = functional_call(net, params, (x,))
    labels = label.expand(x.shape[0])
    return (F.cross_entropy(logits, labels, reduction="none") * weights).sum()


def freeze_batchnorm_on_real(run: "Distiller", net: nn.Module) -> None:
    """DC: set BatchNorm running stats from a mixed real batch, then use them (eval-mode BN)."""
    idx, _ = run.sampler.sample(run.cfg.bn_batch_per_class, run.data_generator)
    net.train()
    with torch.no_grad():
        net(run.real_images[idx.flatten()])
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def real_gradients(run: "Distiller", net: nn.Module, params: list[torch.Tensor],
                   real: list[torch.Tensor], weights: torch.Tensor) -> list[torch.Tensor]:
    """Per-class gradients of the weighted CE, stacked [K, *param_shape]."""
    forward = run.first_order(net)
    per_class = []
    for c, x in enumerate(real):
        loss = (F.cross_entropy(forward(x), run.class_labels[c].expand(x.shape[0]), reduction="none")
                * weights[c]).sum()
        per_class.append(torch.autograd.grad(loss, params))
    return [torch.stack(g) for g in zip(*per_class)]


def synthetic_gradients(run: "Distiller", net: nn.Module, syn: torch.Tensor) -> list[torch.Tensor]:
    """Per-class gradients on the synthetic images [K, ipc, C, H, W], differentiable in `syn`."""
    params = {name: p.detach() for name, p in net.named_parameters()}
    uniform = torch.full(syn.shape[:2], 1.0 / syn.shape[1], device=syn.device)
    per_class = vmap(grad(_weighted_ce, argnums=1), in_dims=(None, None, 0, 0, 0))
    grads = per_class(net, params, syn, run.class_labels, uniform)
    return [grads[name] for name, _ in net.named_parameters()]


def _match_step(run: "Distiller", net: nn.Module, params: list[torch.Tensor], augment: bool) -> torch.Tensor:
    idx, weights = run.sampler.sample(run.cfg.batch_real, run.data_generator)
    real = [run.real_images[i] for i in idx]
    syn = run.images.view(run.num_classes, run.cfg.ipc, *run.images.shape[1:])
    if augment:
        draws = [run.dsa.sample(1, run.augment_generator) for _ in range(run.num_classes)]
        real = [run.dsa.apply(x, d) for x, d in zip(real, draws)]
        syn = torch.stack([run.dsa.apply(s, d) for s, d in zip(syn, draws)])
    g_real = real_gradients(run, net, params, real, weights)
    g_syn = synthetic_gradients(run, net, syn)
    loss = run.distance(g_syn, g_real).sum()
    # grad w.r.t. the images only: backward() would also fill the net's .grad for nothing.
    run.images.grad = torch.autograd.grad(loss, run.images)[0]
    run.image_optimizer.step()
    return loss.detach()


def _train_net_on_synthetic(run: "Distiller", net: nn.Module, optimizer: torch.optim.Optimizer,
                            augment: bool) -> None:
    """`inner_loop` epochs of SGD on the synthetic set (batch_train per step), as DC's `epoch`."""
    net.train()
    forward = run.first_order(net)
    images, labels = run.images.detach(), run.labels
    total, batch = len(labels), run.cfg.batch_train
    for _ in range(run.cfg.inner_loop):
        # A single full batch needs no shuffle: the mean loss does not depend on the order.
        order = None if total <= batch else torch.randperm(total, generator=run.data_generator,
                                                           device=labels.device)
        for start in range(0, total, batch):
            sel = slice(start, start + batch) if order is None else order[start:start + batch]
            x, y = images[sel], labels[sel]
            if augment:  # DSA trains the inner net on augmented images, parameters per image
                x = run.dsa.apply(x, run.dsa.sample(len(x), run.augment_generator))
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(forward(x), y).backward()
            optimizer.step()


def gradient_matching_iteration(run: "Distiller", net: nn.Module, augment: bool) -> torch.Tensor:
    cfg = run.cfg
    params = list(net.parameters())
    optimizer = torch.optim.SGD(params, lr=cfg.lr_net, momentum=cfg.momentum_net)
    batchnorm = has_batchnorm(net)
    total = torch.zeros((), device=run.device)
    for step in range(cfg.outer_loop):
        if batchnorm:
            freeze_batchnorm_on_real(run, net)
        total += _match_step(run, net, params, augment)
        if step == cfg.outer_loop - 1:
            break
        _train_net_on_synthetic(run, net, optimizer, augment)
    return total / (run.num_classes * cfg.outer_loop)  # DC's reported loss_avg


METHODS.add("dc", Method("dc", lambda run, net: gradient_matching_iteration(run, net, False),
                         uses_dsa=False, description="gradient matching (DC, ICLR 2021)"))
METHODS.add("dsa", Method("dsa", lambda run, net: gradient_matching_iteration(run, net, True),
                          uses_dsa=True, description="gradient matching with siamese augmentation (DSA, ICML 2021)"))
