"""MTT as a method of `DistillConfig`: its keys (`MTTMethodSettings`) and its run (`MTTDistiller`).

The keys are MTT's own (`MTTSettings`, defaults the reference's) plus the experts it starts from:
`num_experts` trajectories per pool architecture, trained `train_epochs` epochs at `lr_teacher` in
batches of `batch_teacher` with `augment_teacher`, on ZCA-whitened images with `zca`. When the experts are whitened, the synthetic set lives in the
same whitened space, as in the reference: the transform is fitted on the training split, the
initial real images are drawn whitened, and the set's meta.json records the transform (`zca`,
enough to fit it again) so that evaluation whitens its real data the same way. The learned student
learning rate is recorded as `learned_lr`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

import torch

from raydd.core.augment import DEFAULT_DSA_STRATEGY
from raydd.core.distill.mtt import (RECORDED_WHEN_SET, MTTRun, MTTSettings, _is_int, _is_positive, initial_images,
                                    recorded)
from raydd.core.distill.same_config import check_same_config
from raydd.core.distill.setting import setting
from raydd.core.experts import ExpertSettings, Trajectory
from raydd.core.experts.settings import AUGMENTS

STATE_VERSION = 1
DEFAULT_EXPERTS = 10  # per architecture; the reference's buffer.py trains 100


@dataclass(frozen=True)
class MTTMethodSettings:
    RECORDED_WHEN_SET = RECORDED_WHEN_SET  # unset, they leave a sweep's hash and a set's meta as they were

    syn_steps: int = setting(20, "Student steps unrolled per iteration.")
    expert_epochs: int = setting(3, "Expert epochs between the start and the target.")
    max_start_epoch: int = setting(25, "Start epochs are drawn from 0..N-1.")
    lr_lr: float = setting(1e-5, "Learning rate of the learnable student learning rate.")
    lr_syn_init: float | None = setting(None, "The learnable student learning rate's start [default: the "
                                              "experts' lr].")
    batch_syn: int | None = setting(None, "Synthetic images per student step [default: all].")
    dsa: bool = setting(True, "DSA on every student batch.")
    dsa_strategy: str = setting(DEFAULT_DSA_STRATEGY, "DSA's augmentations, '_'-joined (DSA, DM, MTT).")
    num_experts: int = setting(DEFAULT_EXPERTS, "Experts per pool architecture, seeds 0..N-1.")
    train_epochs: int = setting(50, "The experts' training epochs.")
    lr_teacher: float = setting(0.01, "The experts' SGD learning rate.")
    batch_teacher: int = setting(256, "The experts' batch size.")
    augment_teacher: str = setting("dsa", "The experts' augmentation (dc: DC's crop_scale_rotate).",
                                   choices=AUGMENTS)
    zca: bool = setting(False, "The experts trained on ZCA-whitened images; the set is whitened too.")
    max_img_grad_norm: float | None = setting(None, "Largest norm of the images' gradient per iteration; a "
                                                    "larger one is scaled down to it [default: no clip, as "
                                                    "the reference].")

    def __post_init__(self) -> None:
        problems = []
        if not _is_int(self.train_epochs) or self.train_epochs < 1:
            problems.append(f"train_epochs must be an integer >= 1, got {self.train_epochs!r}")
        if not _is_positive(self.lr_teacher):
            problems.append(f"lr_teacher must be a finite number > 0, got {self.lr_teacher!r}")
        if not _is_int(self.batch_teacher) or self.batch_teacher < 1:
            problems.append(f"batch_teacher must be an integer >= 1, got {self.batch_teacher!r}")
        if self.augment_teacher not in AUGMENTS:
            problems.append(f"augment_teacher must be one of {', '.join(AUGMENTS)}, got {self.augment_teacher!r}")
        if not isinstance(self.zca, bool):
            problems.append(f"zca must be true or false, got {self.zca!r}")
        if problems:
            raise ValueError("; ".join(problems))
        # Each key by MTT's own rules, in its words; whether the experts are long enough for the start
        # epochs is a rule of keys together, checked by `resolved` (a sweep file checks keys one by one).
        reach = replace(self.expert_settings(), epochs=max(self.train_epochs, _last_epoch(self)))
        _mtt_settings(self._mtt_values(lr_img=1000.0, momentum=0.5, init="real", experts=reach))

    def resolved(self, ipc: int) -> "MTTMethodSettings":
        """Checked as a whole, the student lr's start set (the experts' lr where left out)."""
        _mtt_settings(self._mtt_values(lr_img=1000.0, momentum=0.5, init="real"))
        return self if self.lr_syn_init is not None else replace(self, lr_syn_init=self.lr_teacher)

    def expert_settings(self) -> ExpertSettings:
        """How the experts this run starts from were trained (momentum and weight decay at buffer.py's 0)."""
        return ExpertSettings(epochs=self.train_epochs, lr=self.lr_teacher, batch_size=self.batch_teacher,
                              augment=self.augment_teacher, zca=self.zca)

    def mtt_settings(self, lr_img: float, momentum: float, init: str) -> MTTSettings:
        """The settings `MTTRun` reads: these, with the config's image lr, momentum and start."""
        return _mtt_settings(self._mtt_values(lr_img, momentum, init))

    def _mtt_values(self, lr_img: float, momentum: float, init: str, experts: ExpertSettings | None = None
                    ) -> dict[str, Any]:
        lr_syn_init = self.lr_teacher if self.lr_syn_init is None else self.lr_syn_init
        return dict(syn_steps=self.syn_steps, expert_epochs=self.expert_epochs, max_start_epoch=self.max_start_epoch,
                    lr_img=lr_img, lr_lr=self.lr_lr, lr_syn_init=lr_syn_init, momentum=momentum,
                    batch_syn=self.batch_syn, dsa=self.dsa, dsa_strategy=self.dsa_strategy, init=init,
                    num_experts=self.num_experts, experts=experts or self.expert_settings(),
                    max_img_grad_norm=self.max_img_grad_norm)

    def to_dict(self) -> dict[str, Any]:
        return recorded({f.name: getattr(self, f.name) for f in fields(self)})


def _mtt_settings(values: dict[str, Any]) -> MTTSettings:
    try:
        return MTTSettings(**values)
    except ValueError as error:
        raise ValueError(str(error).removeprefix("MTTSettings: ")) from None


def _last_epoch(settings: MTTMethodSettings) -> int:
    """The latest expert epoch the start epochs reach (0 where those keys are themselves wrong)."""
    numbers = (settings.max_start_epoch, settings.expert_epochs)
    return settings.max_start_epoch - 1 + settings.expert_epochs if all(_is_int(n) for n in numbers) else 0


Experts = Mapping[str, Sequence[Trajectory]]


class MTTDistiller:
    """One MTT run of a `DistillConfig`, driven by `distill()` as a `Distiller` is: `step()`,
    `state_dict()`, `load_state_dict()`, `synthetic_set()`. `experts` is the expert store's root
    (seeds 0 .. num_experts - 1 of each pool architecture are loaded from it, or refused in one
    line naming the command that trains them) or the trajectories themselves."""

    def __init__(self, cfg: Any, data: Any, device: str | torch.device, experts: Experts | str | os.PathLike | None):
        from raydd.core.datasets.zca import fit_zca, whiten_dataset

        self.cfg, self.data = cfg, data
        settings = cfg.settings.mtt_settings(cfg.lr_img, cfg.momentum_img, cfg.init)
        trajectories = _experts(cfg, data, experts)
        self.zca = fit_zca(data.train, data.info) if settings.experts.zca else None
        seen = data if self.zca is None else whiten_dataset(data, self.zca)
        images, self.labels = initial_images(seen.train, data.info, cfg.ipc, settings.init, cfg.seed)
        self.run = MTTRun(settings, data.info, images, self.labels, trajectories, cfg.pool, cfg.seed, device)

    @property
    def iteration(self) -> int:
        return self.run.iteration

    @property
    def wall_seconds(self) -> float:
        return self.run.wall_seconds

    @property
    def images(self) -> torch.Tensor:
        return self.run.images

    def step(self) -> float:
        return self.run.step()

    def state_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "config": self.cfg.to_dict(), "iteration": self.run.iteration,
                "images": self.run.images.detach().cpu().clone(), "mtt": self.run.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION or "mtt" not in state:
            raise ValueError(f"not an MTT checkpoint of version {STATE_VERSION}")
        check_same_config(state["config"], self.cfg)
        self.run.load_state_dict(state["mtt"])

    def synthetic_set(self):
        from raydd.core.artifact import SyntheticSet, build_meta
        from raydd.core.datasets.zca import zca_record

        run = self.run
        meta = build_meta(self.cfg, self.data.info, run.iteration, run.wall_seconds, run.losses,
                          val_size=self.data.val_size, split_seed=self.data.split_seed)
        meta["learned_lr"] = run.syn_lr
        meta["zca"] = None if self.zca is None else zca_record(self.zca)
        meta["experts_per_arch"] = {arch: len(trajectories) for arch, trajectories in run.experts.items()}
        if run.settings.max_img_grad_norm is not None:  # how often the clip acted, per expert architecture
            meta["img_grad_clipped"] = {arch: run.clipped.get(arch, 0) for arch in run.experts}
        return SyntheticSet(run.images.detach().cpu().clone(), self.labels.cpu().clone(), meta)


def _experts(cfg: Any, data: Any, experts: Experts | str | os.PathLike | None) -> Experts:
    """The trajectories given, or those the store at `experts` holds for this run."""
    if experts is None:
        raise ValueError("method mtt needs expert trajectories: the experts store (`raydd experts train "
                         "--storage DIR`) to load them from")
    if isinstance(experts, Mapping):
        return experts
    from raydd.core.experts import ExpertStore
    from raydd.core.experts.catalog import load_needed
    from raydd.core.experts.settings import train_command

    store = ExpertStore(experts)
    settings = cfg.settings.expert_settings()

    def command(archs, count):
        return train_command(data.info.name, archs, count, settings, store.root)

    return load_needed(store, data, cfg.pool.archs, settings, cfg.settings.num_experts, command)
