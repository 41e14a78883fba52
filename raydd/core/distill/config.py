"""`DistillConfig`: one distillation run, validated once, resolved to numbers.

It holds what every method shares (dataset, method, set size, length, pool, seed, the images'
learning rate, momentum and start) and, as `settings`, the method's own keys (its `METHODS`
entry's settings dataclass: `DCSettings` for dc/dsa/dm, `MTTMethodSettings` for mtt). A config is
built from flat keys, as a sweep file's `distill:` section and `raydd distill`'s flags give them:
`DistillConfig(method="dc", ipc=10, lr_net=0.01)` puts `lr_net` into the settings, and a key of
another method is refused naming the methods it belongs to. Fields left as None take the
method's published defaults, so `to_dict()` (flat again) always records the values actually used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from raydd.core.distill.dc_settings import AUTO, DC_LOOPS, PRECISIONS, loops_for_ipc, require_finite, require_int
from raydd.core.distill.methods import METHODS, method_keys, methods_with
from raydd.core.pool import PoolSpec

INITS = ("real", "noise")

__all__ = ["AUTO", "DC_LOOPS", "INITS", "PRECISIONS", "DistillConfig", "loops_for_ipc", "shared_keys"]


@dataclass(frozen=True, init=False)
class DistillConfig:
    dataset: str = "digits"
    method: str = "dc"
    ipc: int = 1
    iterations: int = 1000  # outer iterations (a fresh net each); DC/DSA/DM papers: 1000 / 1000 / 20000
    pool: PoolSpec | None = None  # None: ConvNet alone
    seed: int = 0
    lr_img: float | None = None  # None: method default (DC/DSA 0.1, DM 1.0, MTT 1000)
    momentum_img: float = 0.5  # SGD momentum on the images, all four papers
    init: str | None = None  # real | noise; None: method default (DC/DSA noise, DM/MTT real)
    settings: Any = None  # the method's own keys, resolved (its settings dataclass)

    def __init__(self, dataset: str = "digits", method: str = "dc", ipc: int = 1, iterations: int = 1000,
                 pool: Any = None, seed: int = 0, lr_img: float | None = None, momentum_img: float = 0.5,
                 init: str | None = None, settings: Any = None, **method_keys: Any) -> None:
        given = dict(dataset=dataset, method=method, ipc=ipc, iterations=iterations, pool=_pool(pool), seed=seed,
                     lr_img=lr_img, momentum_img=momentum_img, init=init)
        for name, value in given.items():
            object.__setattr__(self, name, value)
        self._check_shared()
        entry = METHODS.get(method)  # ValueError listing the known methods
        object.__setattr__(self, "settings", _settings(entry, method, settings, method_keys).resolved(ipc))
        for name, value in (("lr_img", entry.lr_img), ("init", entry.init)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.lr_img <= 0:
            raise ValueError(f"lr_img must be > 0, got {self.lr_img}")

    def _check_shared(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a non-empty name, got {self.dataset!r}")
        if self.init is not None and self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; known: {', '.join(INITS)}")
        require_int("ipc", self.ipc, 1)
        require_int("iterations", self.iterations, 0)
        require_int("seed", self.seed, 0)
        for name in ("lr_img", "momentum_img"):  # NaN and inf pass every range check below: refuse them first
            if getattr(self, name) is not None:
                require_finite(name, getattr(self, name))
        if not 0.0 <= self.momentum_img < 1.0:
            raise ValueError(f"momentum_img must lie in [0, 1), got {self.momentum_img}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, flat: the shared keys, then the method's (the pool as its `as_dict()`)."""
        shared = {name: getattr(self, name) for name in shared_keys()}
        return {**shared, "pool": self.pool.as_dict(), **self.settings.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DistillConfig":
        known = {*shared_keys(), *method_keys()}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DistillConfig fields: {', '.join(sorted(unknown))}")
        return cls(**d)


def shared_keys() -> list[str]:
    """The keys every method has, in order (the config's fields but its settings)."""
    return [f.name for f in fields(DistillConfig) if f.name != "settings"]


def _pool(pool: Any) -> PoolSpec:
    if pool is None:
        return PoolSpec.single("ConvNet")
    if isinstance(pool, str):
        return PoolSpec.parse(pool)
    if isinstance(pool, dict):
        return PoolSpec.from_dict(pool)
    return pool


def _settings(entry: Any, method: str, settings: Any, keys: dict[str, Any]) -> Any:
    """The method's settings from its flat keys (or as given whole); a key of another method, or
    of none, is refused naming where it belongs."""
    foreign = [key for key in keys if key not in entry.keys]
    if foreign:
        key = foreign[0]
        owners = methods_with(key)
        if not owners:
            raise TypeError(f"unknown DistillConfig field {key!r}")
        raise ValueError(f"{key} does not apply to method {method} (it is a setting of {', '.join(owners)})")
    if settings is None:
        return entry.settings(**keys)
    if isinstance(settings, dict):
        return entry.settings(**{**settings, **keys})
    if not isinstance(settings, entry.settings):
        raise ValueError(f"settings of method {method} must be {entry.settings.__name__}, got "
                         f"{type(settings).__name__}")
    return dataclasses.replace(settings, **keys) if keys else settings
