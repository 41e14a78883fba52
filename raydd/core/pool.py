"""The model pool: which architecture the matching net is drawn from at each outer iteration.

A pool is a declared part of the experiment (`PoolSpec`), validated once; `ModelPool` draws from
it with its own seeded generator, so the pool never perturbs the RNG stream that initialises nets
and samples real batches: a pool of one architecture is plain DC, draw for draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

PROB_TOLERANCE = 1e-6  # probabilities must sum to 1 within this, unless normalised on request


def _known_archs() -> Any:
    from raydd.core.archs import ARCHS  # late: the pool text parses before the nets are needed

    return ARCHS


@dataclass(frozen=True)
class PoolSpec:
    """Architectures and the probability of drawing each; `warmup` iterations use only the first."""

    archs: tuple[str, ...]
    probs: tuple[float, ...]
    warmup: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "archs", tuple(self.archs))
        object.__setattr__(self, "probs", tuple(float(p) for p in self.probs))
        _validate(self.archs, self.probs, self.warmup)

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, warmup: int = 0, normalize: bool = False) -> "PoolSpec":
        """`"ConvNet=0.9,ConvNetW64=0.1"`; a bare name means weight 1 (`"ConvNet"`)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("pool text is empty; expected e.g. 'ConvNet=0.9,ConvNetW64=0.1'")
        archs, weights = [], []
        for entry in text.split(","):
            name, weight = _parse_entry(entry.strip(), text)
            archs.append(name)
            weights.append(weight)
        if normalize:
            return cls.normalized(archs, weights, warmup)
        return cls(tuple(archs), tuple(weights), warmup)

    @classmethod
    def normalized(cls, archs: Sequence[str], weights: Sequence[float], warmup: int = 0) -> "PoolSpec":
        """Weights rescaled to sum to 1 (`normalize` in a sweep file, `--normalize-pool`)."""
        _check_weights(archs, weights)
        total = sum(weights)
        return cls(tuple(archs), tuple(w / total for w in weights), warmup)

    @classmethod
    def single(cls, arch: str) -> "PoolSpec":
        """A pool of one architecture: plain DC/DSA/DM."""
        return cls((arch,), (1.0,), 0)

    @classmethod
    def main_share(
        cls, main: str, others: Sequence[str], p_main: float, warmup: int = 0
    ) -> "PoolSpec":
        """`main` gets `p_main`; the `others` share `1 - p_main` equally."""
        others = tuple(others)
        if not 0.0 <= p_main <= 1.0:
            raise ValueError(f"the main architecture's weight must lie in [0, 1], got {p_main}")
        if not others:
            if not math.isclose(p_main, 1.0, abs_tol=PROB_TOLERANCE):
                raise ValueError(f"the main architecture's weight is {p_main}, but no other architecture "
                                 "shares the rest")
            return cls((main,), (1.0,), warmup)
        # Rounded so that 0.1 / 2 reads 0.05 in pool names and tables, not 0.04999999999999999.
        share = round((1.0 - p_main) / len(others), 12)
        return cls((main, *others), (p_main, *([share] * len(others))), warmup)

    # ---- views --------------------------------------------------------------------------------
    @property
    def main(self) -> str:
        return self.archs[0]

    @property
    def name(self) -> str:
        """Canonical text; `PoolSpec.parse(spec.name, spec.warmup) == spec`."""
        return ",".join(f"{a}={p!r}" for a, p in zip(self.archs, self.probs))

    def as_dict(self) -> dict[str, Any]:
        return {"archs": dict(zip(self.archs, self.probs)), "warmup": self.warmup}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PoolSpec":
        archs = d["archs"]
        return cls(tuple(archs), tuple(archs.values()), int(d.get("warmup", 0)))


def _parse_entry(entry: str, text: str) -> tuple[str, float]:
    if not entry:
        raise ValueError(f"empty entry in pool {text!r}")
    name, sep, weight = entry.partition("=")
    name = name.strip()
    if not name:
        raise ValueError(f"pool entry {entry!r} has no architecture name")
    if not sep:
        return name, 1.0
    try:
        value = float(weight)
    except ValueError:
        raise ValueError(f"pool entry {entry!r}: weight {weight.strip()!r} is not a number") from None
    return name, value


def _check_weights(archs: Iterable[str], weights: Sequence[float]) -> None:
    for name, w in zip(archs, weights):
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"pool entry {name!r} has weight {w}; weights must be finite and >= 0")
    if sum(weights) <= 0:
        raise ValueError(f"pool weights are all zero: {list(weights)}")


def _validate(archs: tuple[str, ...], probs: tuple[float, ...], warmup: int) -> None:
    if not archs:
        raise ValueError("a pool needs at least one architecture")
    if len(archs) != len(probs):
        raise ValueError(f"pool has {len(archs)} architectures but {len(probs)} probabilities; they must align")
    seen: set[str] = set()
    for name in archs:
        if name in seen:
            raise ValueError(f"architecture {name!r} appears twice in the pool")
        seen.add(name)
    known = _known_archs()
    for name in archs:
        if name not in known:
            raise ValueError(f"unknown architecture {name!r} in pool; known: {', '.join(known)}")
    _check_weights(archs, probs)
    total = sum(probs)
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise ValueError(
            f"pool probabilities sum to {total:.8g}, not 1 "
            f"({', '.join(f'{a}={p:g}' for a, p in zip(archs, probs))}); "
            "fix them or ask for normalisation (--normalize-pool; `normalize: true` in a sweep file)"
        )
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"pool warmup must be an integer >= 0, got {warmup!r}")


class ModelPool:
    """Draws an architecture name per outer iteration, with a generator of its own."""

    def __init__(self, spec: PoolSpec, seed: int) -> None:
        self.spec = spec
        self._generator = torch.Generator().manual_seed(int(seed))
        self._probs = torch.tensor(spec.probs, dtype=torch.float64)

    def sample(self, iteration: int) -> str:
        """During warm-up (iteration < warmup) the main architecture, without drawing."""
        if iteration < self.spec.warmup or len(self.spec.archs) == 1:
            return self.spec.main
        index = torch.multinomial(self._probs, 1, generator=self._generator).item()
        return self.spec.archs[index]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self._generator.get_state(), "spec": self.spec.as_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if PoolSpec.from_dict(state["spec"]) != self.spec:
            raise ValueError(f"checkpoint pool {state['spec']} differs from {self.spec.as_dict()}")
        self._generator.set_state(state["generator"])
