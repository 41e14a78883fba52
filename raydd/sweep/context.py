"""What every remote process of a sweep needs to know, in one frozen object.

The driver builds a `SweepContext` once; Tune hands it to each trial (`tune.with_parameters`) and
the dispatcher to each evaluation actor. It carries the driver's storage variables because the
Ray workers of a local cluster may have been started before those were set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from raydd.sweep.storage import SweepPaths, apply_storage_env, capture_storage_env


@dataclass(frozen=True)
class TestHooks:
    """Fault injection for the sweep's own tests, read from the driver's environment.

    RAYDD_TEST_CRASH_AT=<iteration> with RAYDD_TEST_CRASH_MARKER=<file>: a trial raises once, right
    after that iteration, before reporting it (the marker file records that it already did).
    RAYDD_TEST_EVAL_CRASH_MARKER=<file>: an evaluation actor exits once, after training a student
    and before writing its rows. Unset (the default), they do nothing.
    """

    crash_at: int | None = None
    crash_marker: str | None = None
    eval_crash_marker: str | None = None

    @classmethod
    def from_env(cls) -> "TestHooks":
        crash_at = os.environ.get("RAYDD_TEST_CRASH_AT")
        return cls(
            crash_at=int(crash_at) if crash_at else None,
            crash_marker=os.environ.get("RAYDD_TEST_CRASH_MARKER"),
            eval_crash_marker=os.environ.get("RAYDD_TEST_EVAL_CRASH_MARKER"),
        )

    def maybe_crash_trial(self, iteration: int) -> None:
        if self.crash_at == iteration and self.crash_marker and _first_time(self.crash_marker):
            raise RuntimeError(f"injected trial crash at iteration {iteration} (RAYDD_TEST_CRASH_AT)")

    def maybe_crash_evaluator(self) -> None:
        if self.eval_crash_marker and _first_time(self.eval_crash_marker):
            os._exit(1)  # an abrupt death, as a lost node or an OOM kill would be


def _first_time(marker: str) -> bool:
    """True once per marker file: creates it atomically (O_EXCL) on the first call."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@dataclass(frozen=True)
class SweepContext:
    """A validated sweep plus where it lives, for trials and evaluation actors."""

    spec: Any  # raydd.spec.SweepSpec
    root: str
    spec_json: str
    storage_env: dict[str, str] = field(default_factory=dict)
    hooks: TestHooks = TestHooks()

    @classmethod
    def build(cls, spec, root: str) -> "SweepContext":
        return cls(spec, root, spec.to_json(), capture_storage_env(), TestHooks.from_env())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def paths(self) -> SweepPaths:
        return SweepPaths(self.root)

    @property
    def namespace(self) -> str:
        """The Ray namespace of this sweep's named actors."""
        return f"raydd-{self.spec.name}"

    def point(self, trial_key: str):
        for p in self.spec.points:
            if p.trial_key == trial_key:
                return p
        raise KeyError(f"sweep {self.name!r} has no trial {trial_key!r}")

    def enter_worker(self) -> None:
        """Prepare a Ray worker process: the driver's storage variables."""
        apply_storage_env(self.storage_env)

    def load_data(self, device: str):
        d = self.spec.dataset
        return _cached_dataset(d.name, d.data_dir, d.download, d.val_size, device)


@lru_cache(maxsize=2)
def _cached_dataset(name, data_dir, download, val_size, device):
    # reused Tune actors and long-lived evaluation actors load the data once
    from raydd.core.datasets import load_dataset

    data_dir = str(Path(data_dir).expanduser()) if data_dir else None
    return load_dataset(name, data_dir=data_dir, download=download, val_size=val_size, device=device)
