"""Model pools: `{archs, probabilities}`, `{main, others, main_weight}` or `"A=0.9,B=0.1"` text."""

from __future__ import annotations

from typing import Any

from raydd.core.pool import PROB_TOLERANCE, PoolSpec
from raydd.spec.problems import _INVALID, _Problems, _join, _shown
from raydd.spec.values import _arch, _bool, _build, _int, _list, _number, _section


LISTED_POOL_KEYS = ("archs", "probabilities", "warmup", "normalize")
MAIN_POOL_KEYS = ("main", "others", "main_weight", "warmup")


def _pool(value: Any, place: str, problems: _Problems) -> Any:
    """One pool: `{archs, probabilities}`, `{main, others, main_weight}`, or `"A=0.9,B=0.1"` text."""
    if isinstance(value, str):
        return _build(lambda: PoolSpec.parse(value), place, problems)
    if not isinstance(value, dict):
        problems.add(place, f"must be a pool mapping ({{archs, probabilities}} or {{main, others, "
                            f"main_weight}}) or text like 'ConvNet=0.9,ConvNetW64=0.1', got {_shown(value)}")
        return _INVALID
    if "main" in value and "archs" in value:
        problems.add(place, "give either archs/probabilities or main/others/main_weight, not both")
        return _INVALID
    if "main" in value:
        return _main_share_pool(value, place, problems)
    return _listed_pool(value, place, problems)


def _listed_pool(value: dict, place: str, problems: _Problems) -> Any:
    before = len(problems)
    entry = _section(value, place, problems, LISTED_POOL_KEYS, required=("archs",))
    if entry is _INVALID or "archs" not in entry:
        return _INVALID
    archs = _list(entry["archs"], _join(place, "archs"), problems, _arch)
    warmup = _int(entry.get("warmup", 0), _join(place, "warmup"), problems, minimum=0)
    normalize = _bool(entry.get("normalize", False), _join(place, "normalize"), problems)
    if archs is _INVALID:
        return _INVALID
    probs = _probabilities(entry.get("probabilities"), len(archs), normalize is True,
                           _join(place, "probabilities"), problems)
    if len(problems) > before:
        return _INVALID
    return _build(lambda: PoolSpec(archs, probs, warmup), place, problems)


def _probabilities(value: Any, count: int, normalize: bool, place: str, problems: _Problems) -> Any:
    """Aligned with archs; omitted means equal shares."""
    if value is None:
        return tuple([1.0 / count] * count)
    if not isinstance(value, list):
        problems.add(place, f"must be a list of numbers, got {_shown(value)}")
        return _INVALID
    probs = [_number(p, f"{place}[{i}]", problems, at_least=0) for i, p in enumerate(value)]
    if any(p is _INVALID for p in probs):
        return _INVALID
    if len(probs) != count:
        entries = "entry" if len(probs) == 1 else "entries"
        problems.add(place, f"has {len(probs)} {entries} but archs has {count}; they must align")
        return _INVALID
    total = sum(probs)
    if total <= 0:
        problems.add(place, "are all zero")
        return _INVALID
    if normalize:
        return tuple(p / total for p in probs)
    if abs(total - 1.0) > PROB_TOLERANCE:
        problems.add(place, f"sums to {total:.6g}, not 1 (or set normalize: true)")
        return _INVALID
    return tuple(probs)


def _main_share_pool(value: dict, place: str, problems: _Problems) -> Any:
    before = len(problems)
    entry = _section(value, place, problems, MAIN_POOL_KEYS, required=("main",))
    if entry is _INVALID:
        return _INVALID
    main = _arch(entry["main"], _join(place, "main"), problems)
    others = _list(entry.get("others", []), _join(place, "others"), problems, _arch, allow_empty=True)
    if others is not _INVALID and main in others:
        problems.add(_join(place, "others"), f"lists the main architecture {main!r} again")
    if "main_weight" not in entry and others:
        problems.add(_join(place, "main_weight"), "missing (required when others are given)")
    weight = _number(entry.get("main_weight", 1.0), _join(place, "main_weight"), problems, at_least=0)
    if weight is not _INVALID and weight > 1:
        problems.add(_join(place, "main_weight"), f"must be <= 1, got {weight}")
    warmup = _int(entry.get("warmup", 0), _join(place, "warmup"), problems, minimum=0)
    if len(problems) > before:
        return _INVALID
    return _build(lambda: PoolSpec.main_share(main, others, weight, warmup), place, problems)
