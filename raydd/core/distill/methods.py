"""The distillation methods by name, each with its published defaults."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
from torch import nn

from raydd.core.distill.dc import gradient_matching
from raydd.core.distill.dm import distribution_matching
from raydd.core.distill.state import IterationState
from raydd.registry import Registry


@dataclass(frozen=True)
class Method:
    """`iterate(state, net)` runs one outer iteration on a fresh net and returns its loss (a tensor)."""

    iterate: Callable[[IterationState, nn.Module], torch.Tensor]
    lr_img: float  # the paper's image learning rate
    init: str  # the paper's initial images: real | noise


# Defaults as published: DC/DSA in the ICLR 2021 code, DM in the WACV 2023 code.
METHODS: Registry[Method] = Registry("distillation method")
METHODS.add("dc", Method(partial(gradient_matching, augment=False), lr_img=0.1, init="noise"))
METHODS.add("dsa", Method(partial(gradient_matching, augment=True), lr_img=0.1, init="noise"))
METHODS.add("dm", Method(distribution_matching, lr_img=1.0, init="real"))
