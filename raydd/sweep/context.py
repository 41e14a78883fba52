"""What every remote process of a sweep needs to know, in one frozen object.

The driver builds a `SweepContext` once; Tune hands it to each trial (`tune.with_parameters`) and
the dispatcher to each evaluation actor. It carries the driver's storage variables because the
Ray workers of a local cluster may have been started before those were set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from raydd import strict_json
from raydd.sweep.storage import SweepPaths, apply_storage_env, capture_storage_env


@dataclass(frozen=True)
class SweepContext:
    """A validated sweep plus where it lives, for trials and evaluation actors."""

    spec: Any  # raydd.spec.SweepSpec
    root: str
    spec_json: str
    storage_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, spec, root: str) -> "SweepContext":
        return cls(spec, root, strict_json.dumps(spec.describe(), sort_keys=True), capture_storage_env())

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
