"""Gradient distances for DC/DSA, batched over classes.

Every distance takes two lists of gradients, one tensor per network parameter, each with a leading
class dimension [K, *param_shape], and returns the K per-class distances. The training loss is their
sum, as in the DC code (`loss += match_loss(...)` over classes).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from raydd.registry import Registry

Distance = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor]], torch.Tensor]

DISTANCES: Registry[Distance] = Registry("gradient distance")

EPS = 1e-6  # keeps the cosine finite for an all-zero gradient (the DC code's 0.000001)


def _one_minus_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cos along the last dimension."""
    return 1.0 - (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + EPS)


@DISTANCES.register("dc")
def layerwise_distance(g_syn: Sequence[torch.Tensor], g_real: Sequence[torch.Tensor]) -> torch.Tensor:
    """The DC paper's distance: per output unit 1 - cosine, summed over units and layers.

    Weights are viewed as (out_units, -1); 1-D parameters (biases, norm scales) carry no unit
    structure and are left out, as in the paper.
    """
    total = None
    for s, r in zip(g_syn, g_real):
        if s.dim() <= 2:  # [K, n]: a 1-D parameter
            continue
        per_unit = _one_minus_cosine(s.flatten(2), r.flatten(2))  # [K, out_units]
        total = per_unit.sum(-1) if total is None else total + per_unit.sum(-1)
    if total is None:
        raise ValueError("the 'dc' distance needs at least one parameter with 2 or more dimensions")
    return total


def _flat(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.flatten(1) for g in grads], dim=1)


@DISTANCES.register("mse")
def squared_distance(g_syn: Sequence[torch.Tensor], g_real: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of squared differences over all gradient entries."""
    return sum(((s - r) ** 2).flatten(1).sum(-1) for s, r in zip(g_syn, g_real))


@DISTANCES.register("cos")
def cosine_distance(g_syn: Sequence[torch.Tensor], g_real: Sequence[torch.Tensor]) -> torch.Tensor:
    """1 - cosine between the whole gradients flattened into one vector."""
    return _one_minus_cosine(_flat(g_syn), _flat(g_real))
