"""The time a long stage has left, from the rate measured so far, as progress lines print it:
`eta 3m12s`. Plain Python: distillation, `raydd evaluate` and the sweep driver all use it."""

from __future__ import annotations

import math
import time

UNKNOWN = "eta ?"  # nothing done yet: no rate to go by


def duration_text(seconds: float) -> str:
    """`45s`, `3m12s`, `2h05m`, `1d03h`: the two largest units, rounded to the second."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def eta_text(done: float, total: float, elapsed_s: float) -> str:
    """`eta <time left>` for `total - done` more units at the rate `done / elapsed_s`, the units done
    in the `elapsed_s` measured (work done before the measurement began is left out of both)."""
    if done >= total:
        return "eta 0s"
    if not (done > 0 and elapsed_s > 0 and math.isfinite(elapsed_s)):
        return UNKNOWN
    return f"eta {duration_text((total - done) * elapsed_s / done)}"


class Countdown:
    """`total` units of a stage, timed from the countdown's start: `tick` (units more) and `at`
    (units in all) count what is done and say the ETA at the rate so far."""

    def __init__(self, total: float, clock=time.monotonic) -> None:
        self.total, self.clock = total, clock
        self.done, self.start = 0.0, clock()

    def tick(self, units: float = 1) -> str:
        return self.at(self.done + units)

    def at(self, done: float) -> str:
        self.done = done
        return eta_text(done, self.total, self.clock() - self.start)
