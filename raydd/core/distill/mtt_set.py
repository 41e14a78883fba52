"""An MTT distillation from its settings to a synthetic set: what `raydd distill --method mtt` runs.

The experts are given (loaded from the store by the caller). When they trained on ZCA-whitened
images, the synthetic set lives in the same whitened space, as in the reference: the transform is
fitted on the training split, the initial real images are drawn whitened, and the set's meta.json
records the transform (`zca`, enough to fit it again) so that evaluation whitens its real data the
same way. The learned student learning rate is recorded as `learned_lr`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

from raydd.core.distill.loop import Progress
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
                device: str | torch.device = "cpu", progress: Callable[[Progress], None] | None = None):
    """Run `cfg.iterations` MTT iterations and return the `SyntheticSet`."""
    from raydd.core.artifact import SyntheticSet, build_meta
    from raydd.core.datasets.zca import fit_zca, whiten_dataset, zca_record

    zca = fit_zca(data.train, data.info) if cfg.settings.experts.zca else None
    seen = data if zca is None else whiten_dataset(data, zca)
    images, labels = initial_images(seen.train, data.info, cfg.ipc, cfg.settings.init, cfg.seed)
    run = MTTRun(cfg.settings, data.info, images, labels, experts, cfg.pool, cfg.seed, device)
    while run.iteration < cfg.iterations:
        loss = run.step()
        if progress is not None:
            progress(Progress(run.iteration, cfg.iterations, loss, run.wall_seconds, run.iteration,
                              run.wall_seconds, 0, False))
    meta = build_meta(cfg, data.info, run.iteration, run.wall_seconds, run.losses,
                      val_size=data.val_size, split_seed=data.split_seed)
    meta["learned_lr"] = run.syn_lr
    meta["zca"] = None if zca is None else zca_record(zca)
    meta["experts_per_arch"] = {arch: len(trajectories) for arch, trajectories in run.experts.items()}
    return SyntheticSet(run.images.detach().cpu().clone(), labels.cpu().clone(), meta)
