"""Experts trained as Ray tasks, one task per expert: what `raydd experts train --ray` and a sweep's
expert stage (raydd.sweep.experts_stage) both run.

A task loads the dataset itself (by name and validation carve: a path, never the tensors, crosses
to it) and calls `ExpertStore.ensure`, whose writes are atomic and safe against a concurrent
writer of the same expert. The caller says what each task asks Ray for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence


def ensure_on_ray(root: str | Path, identities: Sequence, data_dir: str | Path | None,
                  on_outcome: Callable, *, cpus: float = 1.0, gpus: float = 0.0, device: str | None = None) -> list:
    """The outcome of every expert, reported as each task finishes, on the Ray this process is
    attached to. `device` None: each task uses the GPU Ray gave it, if CUDA can use it, else the CPU."""
    import ray

    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_ensure_one)
    pending = [task.remote(str(root), identity, None if data_dir is None else str(data_dir), device)
               for identity in identities]
    outcomes = []
    while pending:
        (done,), pending = ray.wait(pending, num_returns=1)
        outcomes.append(task_result(ray, done))
        on_outcome(outcomes[-1])
    return outcomes


def task_result(ray, ref):
    """The task's outcome; its error re-raised as itself (one line at the CLI's boundary)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        raise err.cause from None


def _ensure_one(root: str, identity, data_dir: str | None, device: str | None):
    from raydd.core.datasets import load_dataset
    from raydd.core.experts import ExpertStore
    from raydd.sweep.context import worker_device

    device = device or worker_device()
    data = load_dataset(identity.dataset, data_dir=data_dir, val_size=identity.val_size,
                        split_seed=identity.split_seed, device=device)
    return ExpertStore(root).ensure(identity, data, device)
