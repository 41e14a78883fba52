"""`distill()`: drive a run of any method to `cfg.iterations`, checkpointing and resuming.

The one checkpointed loop of raydd: `raydd distill` keeps its checkpoints in a directory
(`checkpoint_dir`), a Tune trial passes a `CheckpointStore` that reports to Tune.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from raydd.atomic import atomic_write
from raydd.core.allocator import reuse_freed_memory_on
from raydd.core.distill.config import DistillConfig
from raydd.core.distill.methods import METHODS
from raydd.core.torch_files import RefusedTorchFile, UnreadableTorchFile, load_torch_file

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class Progress:
    """What a progress callback sees after each outer iteration."""

    iteration: int  # iterations done
    total: int
    loss: float
    wall_seconds: float  # accumulated over every session of the run, resumed ones included
    session_iterations: int  # done in this call (for a rate that ignores resumed work)
    session_seconds: float
    resumed_from: int  # the iteration this call started at (0: a fresh run)
    checkpointed: bool  # the state after this iteration went to the checkpoint store


ProgressCallback = Callable[[Progress], None]


class CheckpointStore(Protocol):
    """Where a run's state goes every `checkpoint_every` iterations, and comes back from."""

    def load(self) -> dict[str, Any] | None:
        """The latest saved state, or None for a fresh run."""

    def save(self, state: dict[str, Any], progress: Progress) -> None:
        """Keep `state`, the run's state after `progress.iteration` iterations. Some of its
        tensors are the live optimiser buffers: serialise or copy them now."""


@dataclass(frozen=True)
class DirectoryStore:
    """`checkpoint.pt` in a directory, replaced atomically at each save."""

    directory: Path

    def load(self) -> dict[str, Any] | None:
        return load_checkpoint(self.directory)

    def save(self, state: dict[str, Any], progress: Progress) -> None:
        save_checkpoint(state, self.directory)


def checkpoint_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def save_checkpoint(state: dict[str, Any], directory: str | os.PathLike) -> Path:
    """Write atomically: a temp file in the same directory, then a rename."""
    target = checkpoint_path(directory)
    with atomic_write(target) as f:
        torch.save(state, f)
    return target


def load_checkpoint(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint in `directory`, or None when there is none."""
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    try:
        return load_torch_file(path, f"checkpoint {path}")
    except (RefusedTorchFile, UnreadableTorchFile):  # already naming the file, in raydd's words
        raise
    except Exception as exc:  # a truncated or foreign file: say which, do not start over silently
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc


def distill(
    cfg: DistillConfig,
    data: Any,
    device: str | torch.device = "cpu",
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    store: CheckpointStore | None = None,
    checkpoint_every: int = 50,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    experts: Any = None,
):
    """Run `cfg.iterations` outer iterations of `cfg.method` and return the `SyntheticSet`.

    On CPU the process keeps freed memory for the next iteration (allocator.py). The full state
    goes to `store` (or to `checkpoint_dir`, a `DirectoryStore`) every
    `checkpoint_every` iterations and at the end, before `progress` sees that iteration; with
    `resume`, the store's latest state is continued (same final images as an uninterrupted run).
    A method that starts from expert trajectories (mtt) takes them as `experts`: the expert
    store's root, or the trajectories per architecture.
    """
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    if checkpoint_dir is not None:
        if store is not None:
            raise ValueError("give checkpoint_dir or store, not both")
        store = DirectoryStore(Path(checkpoint_dir))
    reuse_freed_memory_on(device)
    distiller = METHODS.get(cfg.method).run(cfg, data, device, experts)
    if store is not None and resume:
        state = store.load()
        if state is not None:
            distiller.load_state_dict(state)
    resumed_from, session_seconds = distiller.iteration, 0.0
    while distiller.iteration < cfg.iterations:
        before = distiller.wall_seconds
        loss = distiller.step()
        session_seconds += distiller.wall_seconds - before
        done = distiller.iteration
        due = store is not None and (done % checkpoint_every == 0 or done == cfg.iterations)
        report = Progress(done, cfg.iterations, loss, distiller.wall_seconds, done - resumed_from,
                          session_seconds, resumed_from, due)
        if due:
            store.save(distiller.state_dict(), report)
        if progress is not None:
            progress(report)
    return distiller.synthetic_set()
