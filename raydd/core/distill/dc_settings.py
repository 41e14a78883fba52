"""`DCSettings`: the keys of DC, DSA and DM, the methods that match on a fresh net each iteration.

Each is a key under `distill:` in a sweep file and a flag of `raydd distill`. None takes, for the
outer/inner loop counts, DC's per-ipc table (`loops_for_ipc`), resolved by `resolved(ipc)` so that a
run's recorded settings always hold the numbers it used.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from raydd.core.augment import DEFAULT_DSA_STRATEGY
from raydd.core.distill.matching import DISTANCES
from raydd.core.distill.setting import setting

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

PRECISIONS = ("fp32", "bf16")
AUTO = "auto"  # the compile setting that decides by device and run length (stored as None)


def loops_for_ipc(ipc: int) -> tuple[int, int]:
    """(outer_loop, inner_loop) for `ipc` by the floor rule over `DC_LOOPS`."""
    if ipc < 1:
        raise ValueError(f"ipc must be >= 1, got {ipc}")
    listed = sorted(DC_LOOPS)
    return DC_LOOPS[listed[bisect.bisect_right(listed, ipc) - 1]]


@dataclass(frozen=True)
class DCSettings:
    lr_net: float = setting(0.01, "SGD lr of the matching net's inner loop (DC/DSA).")
    momentum_net: float = setting(0.0, "Momentum of that SGD (the released DC/DSA code: plain SGD).")
    batch_real: int = setting(256, "Real images per class per matching step.")
    batch_train: int = setting(256, "Synthetic images per inner-loop SGD step (DC/DSA).")
    outer_loop: int | None = setting(None, "Matching steps per iteration [default: DC's table by ipc].")
    inner_loop: int | None = setting(None, "Net epochs between matching steps [default: DC's table by ipc].")
    distance: str = setting("dc", "Gradient distance (DC/DSA).", choices=DISTANCES.names())
    dsa_strategy: str = setting(DEFAULT_DSA_STRATEGY, "DSA's augmentations, '_'-joined (DSA, DM, MTT).")
    bn_batch_per_class: int = setting(16, "Real images per class that set BatchNorm running stats.")
    # torch.compile the first-order passes (compiled.py): True, False (eager), or None / "auto":
    # compile CPU runs long enough to pay for the compilation, when the compiler works here.
    compile: bool | str | None = setting(
        None, "torch.compile the first-order passes: faster per iteration after a one-off compilation per "
              "architecture; needs a C++ compiler (CPU) or Triton (GPU) [default: auto: CPU runs of 200+ "
              "iterations per pool architecture compile when the compiler works].")
    # bf16: the matching passes under bf16 autocast (the images and their optimiser stay fp32). Opt-in:
    # its sets kept fp32's accuracy in the one study run (sweeps/fashion_mnist_bf16.yaml), but a
    # CPU-dependent default would give one command different sets on different machines.
    precision: str = setting("fp32", "bf16: the matching passes under bf16 autocast (faster on CPUs with AMX "
                                     "and on GPUs, not bit-comparable with fp32).", choices=PRECISIONS)

    def __post_init__(self) -> None:
        if self.compile == AUTO:
            object.__setattr__(self, "compile", None)
        DISTANCES.get(self.distance)  # ValueError listing the known distances
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")
        for name in ("batch_real", "batch_train", "bn_batch_per_class"):
            require_int(name, getattr(self, name), 1)
        for name in ("outer_loop", "inner_loop"):
            if getattr(self, name) is not None:
                require_int(name, getattr(self, name), 1)
        if self.compile is not None and not isinstance(self.compile, bool):
            raise ValueError(f"compile must be true or false, got {self.compile!r} (or {AUTO}: compile "
                             "CPU runs long enough to pay for it)")
        for name in ("lr_net", "momentum_net"):  # NaN and inf pass every range check: refuse them first
            require_finite(name, getattr(self, name))
        if not 0.0 <= self.momentum_net < 1.0:
            raise ValueError(f"momentum_net must lie in [0, 1), got {self.momentum_net}")
        if self.lr_net <= 0:
            raise ValueError(f"lr_net must be > 0, got {self.lr_net}")

    def resolved(self, ipc: int) -> "DCSettings":
        """The loop counts DC's table gives this ipc, where they were left to it."""
        outer, inner = loops_for_ipc(ipc)
        return replace(self, outer_loop=self.outer_loop or outer, inner_loop=self.inner_loop or inner)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def require_finite(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def require_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
