"""An MTT distillation from its settings to a synthetic set: what `raydd distill --method mtt` runs.

The experts are given (loaded from the store by the caller). When they trained on ZCA-whitened
images, the synthetic set lives in the same whitened space, as in the reference: the transform is
fitted on the training split, the initial real images are drawn whitened, and the set's meta.json
records the transform (`zca`, enough to fit it again) so that evaluation whitens its real data the
same way. The learned student learning rate is recorded as `learned_lr`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from raydd.core.distill.loop import DirectoryStore, Progress, checkpoint_path
from raydd.core.distill.mtt import MTTRun, MTTSettings, initial_images
from raydd.core.experts import Trajectory
from raydd.core.pool import PoolSpec

METHOD = "mtt"


@dataclass(frozen=True)
class MTTConfig:
    """One MTT run: what `MTTSettings` does not hold (dataset, set size, length, pool, seed)."""

    dataset: str
    ipc: int
    iterations: int
    pool: PoolSpec
    seed: int
    settings: MTTSettings
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "method": self.method, "ipc": self.ipc, "iterations": self.iterations,
                "pool": self.pool.as_dict(), "seed": self.seed, "mtt": self.settings.to_dict()}


def distill_mtt(cfg: MTTConfig, data: Any, experts: Mapping[str, Sequence[Trajectory]],
                device: str | torch.device = "cpu", progress: Callable[[Progress], None] | None = None,
                *, checkpoint_dir: str | Path | None = None, checkpoint_every: int = 50, resume: bool = False):
    """Run `cfg.iterations` MTT iterations and return the `SyntheticSet`. With `checkpoint_dir`,
    the run's state goes there every `checkpoint_every` iterations and at the end; with `resume`,
    the state found there (of this very configuration) is continued, to the same images as an
    uninterrupted run."""
    from raydd.core.artifact import SyntheticSet, build_meta
    from raydd.core.datasets.zca import fit_zca, whiten_dataset, zca_record

    zca = fit_zca(data.train, data.info) if cfg.settings.experts.zca else None
    seen = data if zca is None else whiten_dataset(data, zca)
    images, labels = initial_images(seen.train, data.info, cfg.ipc, cfg.settings.init, cfg.seed)
    run = MTTRun(cfg.settings, data.info, images, labels, experts, cfg.pool, cfg.seed, device)
    store = None if checkpoint_dir is None else DirectoryStore(Path(checkpoint_dir))
    if store is not None and resume:
        _restore(run, cfg, store)
    resumed_from, started = run.iteration, run.wall_seconds
    while run.iteration < cfg.iterations:
        loss = run.step()
        due = store is not None and (run.iteration % checkpoint_every == 0 or run.iteration == cfg.iterations)
        report = Progress(run.iteration, cfg.iterations, loss, run.wall_seconds, run.iteration - resumed_from,
                          run.wall_seconds - started, resumed_from, due)
        if due:
            store.save({"config": cfg.to_dict(), "iteration": run.iteration, "mtt": run.state_dict()}, report)
        if progress is not None:
            progress(report)
    meta = build_meta(cfg, data.info, run.iteration, run.wall_seconds, run.losses,
                      val_size=data.val_size, split_seed=data.split_seed)
    meta["learned_lr"] = run.syn_lr
    meta["zca"] = None if zca is None else zca_record(zca)
    meta["experts_per_arch"] = {arch: len(trajectories) for arch, trajectories in run.experts.items()}
    return SyntheticSet(run.images.detach().cpu().clone(), labels.cpu().clone(), meta)


def _restore(run: MTTRun, cfg: MTTConfig, store: DirectoryStore) -> None:
    """Continue the checkpoint in `store`: one of another configuration is refused, naming how."""
    from raydd.core.distill.distiller import check_same_config

    state = store.load()
    where = f"checkpoint {checkpoint_path(store.directory)}"
    if state is None:
        raise ValueError(f"there is no unfinished run to continue ({where} does not exist)")
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or "mtt" not in state:
        raise ValueError(f"{where} is not a raydd MTT checkpoint")
    check_same_config(state["config"], cfg, where)
    run.load_state_dict(state["mtt"])
