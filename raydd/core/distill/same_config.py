"""`check_same_config`: a run continues only a checkpoint of its own configuration."""

from __future__ import annotations

from typing import Any


def check_same_config(saved: dict[str, Any], cfg: Any, checkpoint: str = "the checkpoint") -> None:
    """A ValueError naming every setting in which `saved` (a checkpoint's `config`) differs from
    `cfg`, with both values: a run continues only its own checkpoint."""
    there, here = _flat(saved), _flat(cfg.to_dict())
    differing = [f"{key} {_shown(there.get(key))} there, {_shown(here.get(key))} here"
                 for key in sorted(there.keys() | here.keys()) if there.get(key) != here.get(key)]
    if differing:
        raise ValueError(f"{checkpoint} was written by another configuration: {'; '.join(differing)}")


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """`{"pool": {"archs": {...}, "warmup": 0}}` -> `{"pool.archs": {...}, "pool.warmup": 0}`."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        parts = value.items() if isinstance(value, dict) else [(None, value)]
        flat.update({key if part is None else f"{key}.{part}": item for part, item in parts})
    return flat


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, (str, dict, list, tuple)) else str(value)
