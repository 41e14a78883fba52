"""Named random streams: one seed per (base seed, names), stable across processes and machines."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *names: str) -> int:
    """A 63-bit seed for the stream `names` of a run seeded with `seed`.

    Streams of one run never share a sequence, and the value is the same in every process
    (Python's own `hash` of a string is salted per process).
    """
    key = ":".join([str(int(seed)), *names])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") >> 1
