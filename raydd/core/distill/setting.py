"""`setting(...)`: one key of a method's settings dataclass, with what a person reads about it.

The help text (and the choices, where the key takes a few names) travel with the field, so the
key's `raydd distill` flag is made from the dataclass (raydd/cli/method_flags.py), as its sweep
key is: a method declares each key once.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Sequence


def setting(default: Any, help: str, choices: Sequence[str] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": tuple(choices) if choices else None})
