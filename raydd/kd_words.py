"""The words of a KD mode: `off` / `on`, wherever a person types or reads one.

Sweep files (`kd: [off, on]`), `raydd evaluate --kd off,on`, job names (`kd-on`), results tables,
`results query` output, `--vs-baseline 'kd=off'` and `--where "kd == 'on'"` all speak these words;
the Parquet column stays boolean. False/True are accepted as input too (YAML reads a bare off/on
as false/true, and older commands wrote kd=false). Plain Python, so `raydd.results` can use it
without torch.
"""

from __future__ import annotations

from typing import Any

KD_COLUMN = "kd"
KD_WORDS = {"off": False, "on": True, "false": False, "true": True}


def kd_mode(value: Any) -> bool:
    """True or False from a bool or a KD word (any case); a ValueError for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in KD_WORDS:
        return KD_WORDS[value.strip().lower()]
    raise ValueError(f"must be off or on, got {value!r}")


def kd_word(kd: bool) -> str:
    """`on` or `off`: how a KD mode is printed."""
    return "on" if kd else "off"


def shown(column: str, value: Any) -> Any:
    """A column's value as a person reads it: kd as its word, anything else as it is."""
    if column != KD_COLUMN or value is None or isinstance(value, str):
        return value
    return kd_word(bool(value)) if value in (True, False) else value  # numpy bools too; NaN stays


def with_kd_words(frame):
    """A copy of a results frame whose kd column reads off/on, for printing (the rows themselves,
    and the Parquet column, keep booleans)."""
    if KD_COLUMN not in frame.columns:
        return frame
    return frame.assign(**{KD_COLUMN: [shown(KD_COLUMN, v) for v in frame[KD_COLUMN]]})
