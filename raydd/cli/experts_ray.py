"""`raydd experts train --ray`: each expert a Ray task (raydd.sweep.expert_tasks), on the Ray this
process is attached to, or on a local one started for the command with every CPU of the machine.

Each task asks for one CPU (and one GPU on CUDA), so as many experts train at once as the machine
has CPUs (GPUs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence


def ensure_on_ray(root: Path, identities: Sequence, data_dir: Path | None, device: str,
                  on_outcome: Callable) -> list:
    """The outcome of every expert, reported as each task finishes."""
    import ray

    from raydd.sweep.expert_tasks import ensure_on_ray as ensure_tasks

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        return ensure_tasks(root, identities, data_dir, on_outcome, cpus=1, gpus=1 if device == "cuda" else 0,
                            device=device)
    finally:
        if started:
            ray.shutdown()
