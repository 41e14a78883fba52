"""The registry of distillation methods; dc.py and dm.py fill it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from raydd.registry import Registry

if TYPE_CHECKING:
    from raydd.core.distill.distiller import Distiller


@dataclass(frozen=True)
class Method:
    """`iterate(distiller, net)` runs one outer iteration on a fresh net and returns its loss (a tensor)."""

    name: str
    iterate: Callable[["Distiller", nn.Module], torch.Tensor]
    uses_dsa: bool
    description: str


METHODS: Registry[Method] = Registry("distillation method")
