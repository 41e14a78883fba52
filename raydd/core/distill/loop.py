"""`distill()`: drive a `Distiller` to `cfg.iterations`, checkpointing atomically and resuming."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from raydd.atomic import atomic_write
from raydd.core.distill.config import DistillConfig
from raydd.core.distill.distiller import Distiller

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


ProgressCallback = Callable[[Progress], None]


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
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, do not start over silently
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc


def distill(
    cfg: DistillConfig,
    data: Any,
    device: str | torch.device = "cpu",
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 50,
    resume: bool = True,
    progress: ProgressCallback | None = None,
):
    """Run `cfg.iterations` outer iterations and return the `SyntheticSet`.

    With `checkpoint_dir`, the full state is written every `checkpoint_every` iterations and at the
    end; with `resume`, a checkpoint found there is continued (same final images as an
    uninterrupted run).
    """
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    distiller = Distiller(cfg, data, device)
    if checkpoint_dir is not None and resume:
        state = load_checkpoint(checkpoint_dir)
        if state is not None:
            distiller.load_state_dict(state)
    session_start, session_seconds = distiller.iteration, 0.0
    while distiller.iteration < cfg.iterations:
        before = distiller.wall_seconds
        loss = distiller.step()
        session_seconds += distiller.wall_seconds - before
        if checkpoint_dir is not None and (
            distiller.iteration % checkpoint_every == 0 or distiller.iteration == cfg.iterations
        ):
            save_checkpoint(distiller.state_dict(), checkpoint_dir)
        if progress is not None:
            progress(Progress(distiller.iteration, cfg.iterations, loss, distiller.wall_seconds,
                              distiller.iteration - session_start, session_seconds))
    return distiller.synthetic_set()
