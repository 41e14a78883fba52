"""`DistillConfig`: every hyper-parameter of one distillation run, validated once, resolved to numbers.

Fields left as None take the method's published default (its `METHODS` entry) or, for the outer/inner loop
counts, DC's per-ipc table (`loops_for_ipc`), so `to_dict()` always records the values actually used.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from raydd.core.distill.matching import DISTANCES
from raydd.core.distill.methods import METHODS
from raydd.core.pool import PoolSpec

# DC's (outer_loop, inner_loop) per images-per-class. Other ipc take the entry of the largest listed
# ipc not above them (ipc 5 -> (1, 1), ipc 15 -> (10, 50), ipc 200 -> (50, 10)): the table is
# coarse in the paper too, and a floor rule never spends more matching steps than the next listed ipc.
DC_LOOPS: dict[int, tuple[int, int]] = {
    1: (1, 1),
    10: (10, 50),
    20: (20, 25),
    30: (30, 20),
    40: (40, 15),
    50: (50, 10),
}

INITS = ("real", "noise")

def loops_for_ipc(ipc: int) -> tuple[int, int]:
    """(outer_loop, inner_loop) for `ipc` by the floor rule over `DC_LOOPS`."""
    if ipc < 1:
        raise ValueError(f"ipc must be >= 1, got {ipc}")
    listed = sorted(DC_LOOPS)
    return DC_LOOPS[listed[bisect.bisect_right(listed, ipc) - 1]]


@dataclass(frozen=True)
class DistillConfig:
    dataset: str = "digits"
    method: str = "dc"
    ipc: int = 1
    iterations: int = 1000  # outer iterations (a fresh net each); DC/DSA/DM papers: 1000 / 1000 / 20000
    pool: PoolSpec | None = None  # None: ConvNet alone
    seed: int = 0
    lr_img: float | None = None  # None: method default (DC/DSA 0.1, DM 1.0)
    momentum_img: float = 0.5  # SGD momentum on the images, all three papers
    lr_net: float = 0.01  # inner-loop SGD on the matching net (DC/DSA)
    momentum_net: float = 0.0  # the released DC/DSA code trains the matching net with plain SGD
    batch_real: int = 256  # real images per class per matching step
    batch_train: int = 256  # synthetic images per inner-loop SGD step
    outer_loop: int | None = None  # None: DC table by ipc
    inner_loop: int | None = None
    init: str | None = None  # real | noise; None: method default (DC/DSA noise, DM real)
    distance: str = "dc"  # gradient distance (DC/DSA): dc | mse | cos
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"  # DSA/DM; ops as in the DSA code
    bn_batch_per_class: int = 16  # real images per class that set BatchNorm running stats (DC code)
    compile: bool = False  # torch.compile the first-order passes (raydd/core/distill/compiled.py)

    def __post_init__(self) -> None:
        if self.pool is None:
            object.__setattr__(self, "pool", PoolSpec.single("ConvNet"))
        elif isinstance(self.pool, str):
            object.__setattr__(self, "pool", PoolSpec.parse(self.pool))
        elif isinstance(self.pool, dict):
            object.__setattr__(self, "pool", PoolSpec.from_dict(self.pool))
        self._check_names()
        self._check_numbers()
        method = METHODS.get(self.method)
        outer, inner = loops_for_ipc(self.ipc)
        for name, value in (("lr_img", method.lr_img), ("init", method.init),
                            ("outer_loop", outer), ("inner_loop", inner)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._check_resolved()

    def _check_names(self) -> None:
        METHODS.get(self.method)  # ValueError listing the known methods
        DISTANCES.get(self.distance)
        if self.init is not None and self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; known: {', '.join(INITS)}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a non-empty name, got {self.dataset!r}")

    def _check_numbers(self) -> None:
        _require_int("ipc", self.ipc, 1)
        _require_int("iterations", self.iterations, 0)
        _require_int("seed", self.seed, 0)
        _require_int("batch_real", self.batch_real, 1)
        _require_int("batch_train", self.batch_train, 1)
        _require_int("bn_batch_per_class", self.bn_batch_per_class, 1)
        for name in ("outer_loop", "inner_loop"):
            if getattr(self, name) is not None:
                _require_int(name, getattr(self, name), 1)
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be true or false, got {self.compile!r}")
        for name in FLOAT_FIELDS:  # NaN and inf pass every range check below: refuse them first
            if getattr(self, name) is not None:
                _require_finite(name, getattr(self, name))
        for name in ("momentum_img", "momentum_net"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {value}")
        if self.lr_net <= 0:
            raise ValueError(f"lr_net must be > 0, got {self.lr_net}")

    def _check_resolved(self) -> None:
        if self.lr_img <= 0:
            raise ValueError(f"lr_img must be > 0, got {self.lr_img}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the pool as its `as_dict()`)."""
        d = asdict(self)
        d["pool"] = self.pool.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DistillConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DistillConfig fields: {', '.join(sorted(unknown))}")
        return cls(**d)


FLOAT_FIELDS = tuple(f.name for f in fields(DistillConfig) if "float" in str(f.type))


def _require_finite(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _require_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
