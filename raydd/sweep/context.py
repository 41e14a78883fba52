"""What every remote process of a sweep needs to know, in one frozen object.

The driver builds a `SweepContext` once from the parsed sweep; Tune hands it to each trial
(`tune.with_parameters`, beside the trial's own `TrialPoint` in its config) and the dispatcher to
each evaluation actor. It holds the settings those processes use (the dataset, the evaluation, the
checkpoint interval, the experiment's hash for the rows) and no copy of the sweep file. It carries
the driver's storage variables because the Ray workers of a local cluster may have been started
before those were set.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from raydd.spec import DatasetSpec, EvaluationSpec, SweepSpec
from raydd.storage import apply_storage_env, capture_storage_env
from raydd.sweep.layout import SweepPaths


@dataclass(frozen=True)
class SweepContext:
    """A validated sweep's settings for trials and evaluation actors, and where it lives."""

    name: str
    paths: SweepPaths
    dataset: DatasetSpec
    evaluation: EvaluationSpec
    checkpoint_every: int
    experiment_hash: str  # SweepSpec.experiment_hash(): the stored sweep file each row belongs to
    storage_env: dict[str, str] = field(default_factory=dict)
    probe: Any = None  # ProbeSpec: what a trial trains to report its objective (None: no probe)
    search: Any = None  # SearchSpec: how a searched trial resolves its sampled values
    experts_root: str | None = None  # the expert store of MTT points (None: the sweep has none)

    @classmethod
    def of(cls, spec: SweepSpec, paths: SweepPaths) -> "SweepContext":
        from raydd.spec.experts import has_mtt

        return cls(spec.name, paths, spec.dataset, spec.evaluation, spec.resources.checkpoint_every,
                   spec.experiment_hash(), capture_storage_env(), spec.probe, spec.search,
                   spec.experts_root if has_mtt(spec.points) else None)

    @property
    def namespace(self) -> str:
        """The Ray namespace of this sweep's named actors."""
        return f"raydd-{self.name}"

    def enter_worker(self) -> None:
        """Prepare a Ray worker process: the driver's storage variables, and a quiet end."""
        apply_storage_env(self.storage_env)
        quiet_termination_in_callbacks()

    def load_data(self, device: str):
        d = self.dataset
        return _cached_dataset(d.name, d.data_dir, d.download, d.val_size, device)


def quiet_termination_in_callbacks() -> None:
    """Ray ends a worker (a stopped sweep's trial, for one) with SIGTERM, and its handler raises
    SystemExit wherever the worker happens to be. Inside a weakref callback or a `__del__` Python
    cannot raise it and prints it as "Exception ignored" with a traceback, which Ray forwards to the
    driver's console on Ctrl-C. That SystemExit is the ending asked for: it is dropped; any other
    exception there is still printed."""
    if getattr(sys.unraisablehook, "raydd_quiet", False):
        return  # a reused actor: the hook is already in place

    def hook(unraisable, printed=sys.unraisablehook) -> None:
        if not isinstance(unraisable.exc_value, SystemExit):
            printed(unraisable)

    hook.raydd_quiet = True
    sys.unraisablehook = hook


@lru_cache(maxsize=2)
def _cached_dataset(name, data_dir, download, val_size, device):
    # reused Tune actors and long-lived evaluation actors load the data once
    from raydd.core.datasets import load_dataset

    data_dir = str(Path(data_dir).expanduser()) if data_dir else None
    return load_dataset(name, data_dir=data_dir, download=download, val_size=val_size, device=device)


def worker_device() -> str:
    """cuda when Ray gave this worker a GPU and CUDA is there to use it, else cpu: a cluster may
    declare GPUs that this process cannot see (logical resources, a node without drivers)."""
    import ray
    import torch

    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"
