"""Reading torch files without running code from them, and refusing the others in raydd's words.

`torch.load(weights_only=True)` builds tensors, lists, dicts and numbers only (plus what a caller
allows by name) and refuses any other object a pickle names. Its refusal advises re-running with
`weights_only=False`, the very loader that runs a hostile file's code: raydd never passes that on.
Every torch file raydd reads (a foreign set, a distillation checkpoint, a sweep's KD teacher) goes
through `load_torch_file`.
"""

from __future__ import annotations

import pickle
import re
import warnings
from typing import Any, BinaryIO, Iterable

import torch

_REFERENCE = re.compile(r"GLOBAL ([\w.]+)")  # the name the pickle refers to, as torch reports it
# lines of torch's refusal that advise the unsafe loader or point at its documentation
_ADVICE = ("weights_only", "Weights only load failed", "Please file an issue", "Check the documentation")


class RefusedTorchFile(ValueError):
    """A torch file holding objects the safe loader does not build: loading it could run code."""


class UnreadableTorchFile(ValueError):
    """A file the safe loader cannot parse at all (not a torch file, cut short, garbage)."""


def load_torch_file(source: str | BinaryIO, name: str, allowed: Iterable[Any] = ()) -> Any:
    """The objects in the torch file `source` (named `name` in messages), loaded on the CPU with
    `weights_only=True` and `allowed` globals; RefusedTorchFile when it holds anything else. Any
    warning torch gives about `weights_only` is dropped (it points at the unsafe loader); other
    errors (a truncated zip) are torch's own; a pickle it cannot parse is an UnreadableTorchFile."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.serialization.safe_globals(list(allowed)):
                return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if _REFERENCE.search(str(exc)):
            raise RefusedTorchFile(refusal(name, exc)) from None
        raise UnreadableTorchFile(f"{name} is not a readable torch file ({_reason(exc)})") from None
    finally:  # outside the recording block, so that what is passed on is not recorded again
        for warning in caught:
            if "weights_only" not in str(warning.message):
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _reason(error: Exception) -> str:
    """What torch's unpickler found, without its advice (`Unsupported operand 103`)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    kept = [line for line in lines if not any(words in line for words in _ADVICE)]
    return kept[0] if kept else type(error).__name__


def refusal(name: str, error: Exception) -> str:
    """raydd's line for a file the safe loader refused: what it refers to, and why it is not loaded."""
    found = _REFERENCE.search(str(error))
    held = f"a reference to {found.group(1)!r}" if found else "objects other than tensors, lists, dicts and numbers"
    return (f"{name} is refused: it holds {held}, and loading that could run code (raydd loads tensors, "
            "lists, dicts and numbers only)")
