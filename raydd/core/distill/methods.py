"""The distillation methods by name: each with its own settings, its published defaults and its run.

Adding a method is one module (its settings dataclass, its run) and one `METHODS.add` here: the
settings' fields become its keys under `distill:` in a sweep file (validated with their place) and
the config's `settings`; `run(cfg, data, device, experts)` builds the object `distill()` drives
(`iteration`, `wall_seconds`, `step()`, `state_dict()`, `load_state_dict()`, `synthetic_set()`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from typing import Any, Callable

from raydd.core.distill.dc import gradient_matching
from raydd.core.distill.dc_settings import DCSettings
from raydd.core.distill.dm import distribution_matching
from raydd.core.distill.mtt_method import MTTMethodSettings
from raydd.registry import Registry


@dataclass(frozen=True)
class Method:
    settings: type  # a frozen dataclass of the method's own keys, with `resolved(ipc)` and `to_dict()`
    lr_img: float  # the paper's image learning rate
    init: str  # the paper's initial images: real | noise
    run: Callable[..., Any]  # (cfg, data, device, experts) -> the run `distill()` drives
    # DC/DSA/DM: one outer iteration on a fresh net, `iterate(state, net) -> loss` (the Distiller's)
    iterate: Callable | None = None
    needs_experts: bool = False  # trajectories trained before the run (`raydd experts`)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.settings))


def _matching_run(cfg, data, device, experts=None):
    from raydd.core.distill.distiller import Distiller

    return Distiller(cfg, data, device)


def _mtt_run(cfg, data, device, experts=None):
    from raydd.core.distill.mtt_method import MTTDistiller

    return MTTDistiller(cfg, data, device, experts)


# Defaults as published: DC/DSA in the ICLR 2021 code, DM in the WACV 2023 code, MTT in the CVPR 2022 code.
METHODS: Registry[Method] = Registry("distillation method")
METHODS.add("dc", Method(DCSettings, lr_img=0.1, init="noise", run=_matching_run, iterate=partial(gradient_matching, augment=False)))
METHODS.add("dsa", Method(DCSettings, lr_img=0.1, init="noise", run=_matching_run, iterate=partial(gradient_matching, augment=True)))
METHODS.add("dm", Method(DCSettings, lr_img=1.0, init="real", run=_matching_run, iterate=distribution_matching))
METHODS.add("mtt", Method(MTTMethodSettings, lr_img=1000.0, init="real", run=_mtt_run, needs_experts=True))


def method_keys() -> list[str]:
    """Every method's own keys, each once, in registration order."""
    return list(dict.fromkeys(key for name in METHODS.names() for key in METHODS.get(name).keys))


def methods_with(key: str) -> list[str]:
    return [name for name in METHODS.names() if key in METHODS.get(name).keys]

