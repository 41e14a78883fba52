"""`raydd experts train --ray`: each expert a Ray task, on the Ray this process is attached to, or
on a local one started for the command with every CPU of the machine.

A task loads the dataset itself (by name and validation carve: a path, never the tensors, crosses
to it) and calls `ExpertStore.ensure`, whose writes are atomic and safe against a concurrent
writer of the same expert. Each task asks for one CPU (and one GPU on CUDA), so as many experts
train at once as the machine has CPUs (GPUs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence


def ensure_on_ray(root: Path, identities: Sequence, data_dir: Path | None, device: str,
                  on_outcome: Callable) -> list:
    """The outcome of every expert, reported as each task finishes."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, num_gpus=1 if device == "cuda" else 0, max_retries=0)(_ensure_one)
        pending = [task.remote(str(root), identity, None if data_dir is None else str(data_dir), device)
                   for identity in identities]
        outcomes = []
        while pending:
            (done,), pending = ray.wait(pending, num_returns=1)
            outcomes.append(_result(ray, done))
            on_outcome(outcomes[-1])
        return outcomes
    finally:
        if started:
            ray.shutdown()


def _result(ray, ref):
    """The task's outcome; its error re-raised as itself (one line at the CLI's boundary)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        raise err.cause from None


def _ensure_one(root: str, identity, data_dir: str | None, device: str):
    from raydd.core.datasets import load_dataset
    from raydd.core.experts import ExpertStore

    data = load_dataset(identity.dataset, data_dir=data_dir, val_size=identity.val_size,
                        split_seed=identity.split_seed, device=device)
    return ExpertStore(root).ensure(identity, data, device)
