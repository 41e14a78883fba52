"""Trajectory matching (MTT, Cazenavette et al., CVPR 2022), its experts drawn from a model pool.

One iteration, as the paper's Algorithm 1 and the reference `distill.py` run it:

1. draw the expert's architecture from the pool, an expert of it, and a start epoch t in
   0 .. max_start_epoch - 1 (the reference's `np.random.randint(0, max_start_epoch)`);
2. start a student at the expert's parameters theta_t and take `syn_steps` SGD steps on the
   synthetic images, each on `batch_syn` of them (a fresh permutation whenever one runs out,
   batches taken from its end), augmented by DSA with parameters drawn per image, at the learnable
   rate `syn_lr`: theta <- theta - syn_lr * grad CE(student(theta, DSA(x)), y), functionally
   (torch.func.functional_call over views of one flat vector, as the reference's ReparamModule);
3. loss = ||theta_end - theta*_{t+M}||^2 / ||theta*_t - theta*_{t+M}||^2 with M = expert_epochs
   (both sums divided by the parameter count first, as the reference does);
4. one SGD step with momentum 0.5 on the images (lr_img) and on syn_lr (lr_lr) down that loss,
   differentiated through all the student steps.

Randomness comes from three generators seeded from the run's seed, each in `state_dict()`: the
pool's (which architecture), the experts' (which expert, which start epoch) and the augmentation's
(student batches and DSA draws). A pool of one architecture draws nothing from the first, so it is
plain MTT exactly. The global RNG is not used, except forked to build the students' nets.
Differences from the reference code are listed in docs/mtt.md.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from raydd.core.archs import build_net
from raydd.core.augment import DEFAULT_DSA_STRATEGY, DSA
from raydd.core.datasets import DatasetInfo
from raydd.core.distill.errors import NonFiniteError
from raydd.core.allocator import reuse_freed_memory_on
from raydd.core.distill.mtt_memory import (
    MemoryEstimate,
    available_memory,
    check_mtt_memory,
    estimate_mtt_memory,
)
from raydd.core.distill.unroll import StudentStep, matching_loss
from raydd.core.experts import ExpertSettings, Trajectory, check_unrollable
from raydd.core.pool import ModelPool, PoolSpec
from raydd.core.seeding import derive_seed

STATE_VERSION = 1
INITS = ("real", "noise")
# settings added after runs were recorded, written only when set: unset, a record stays as it was
RECORDED_WHEN_SET = frozenset({"max_img_grad_norm"})

__all__ = [
    "MTTRun", "MTTSettings", "MTTState", "MemoryEstimate", "StudentStep", "available_memory", "check_mtt_memory",
    "draw_expert", "draw_start_epoch", "draw_student_steps", "estimate_mtt_memory", "matching_loss",
    "mtt_step",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_positive(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class MTTSettings:
    """MTT's hyper-parameters; defaults are the reference's (`distill.py` / `buffer.py` flags)."""

    syn_steps: int = 20  # student SGD steps unrolled per iteration (--syn_steps)
    expert_epochs: int = 3  # the target is the expert this many epochs after the start (--expert_epochs)
    max_start_epoch: int = 25  # start epochs are drawn from 0 .. max_start_epoch - 1 (--max_start_epoch)
    lr_img: float = 1000.0  # SGD on the synthetic images, per unit of the normalised loss (--lr_img)
    lr_lr: float = 1e-5  # SGD on the learnable student learning rate (--lr_lr)
    lr_syn_init: float = 0.01  # the learnable student learning rate's start (distill.py --lr_teacher)
    momentum: float = 0.5  # of both optimisers (fixed in distill.py)
    batch_syn: int | None = None  # synthetic images per student step; None: all of them (--batch_syn)
    dsa: bool = True  # DSA on every student batch (--dsa True)
    dsa_strategy: str = DEFAULT_DSA_STRATEGY  # --dsa_strategy
    init: str = "real"  # initial images: real (per class, --pix_init real) or noise
    num_experts: int = 100  # expert trajectories per architecture (buffer.py --num_experts)
    experts: ExpertSettings = field(default_factory=ExpertSettings)  # how each expert trains
    # the images' gradient scaled down to this norm where larger; None: never (the reference)
    max_img_grad_norm: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.experts, dict):
            object.__setattr__(self, "experts", ExpertSettings(**self.experts))
        problems = self.problems()
        if problems:
            raise ValueError("MTTSettings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        out = []
        for name in ("syn_steps", "expert_epochs", "max_start_epoch", "num_experts"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                out.append(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("lr_img", "lr_lr", "lr_syn_init"):
            if not _is_positive(getattr(self, name)):
                out.append(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if self.max_img_grad_norm is not None and not _is_positive(self.max_img_grad_norm):
            out.append(f"max_img_grad_norm must be a finite number > 0 or None (no clip), "
                       f"got {self.max_img_grad_norm!r}")
        if not (isinstance(self.momentum, numbers.Real) and 0 <= self.momentum < 1):
            out.append(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.batch_syn is not None and (not _is_int(self.batch_syn) or self.batch_syn < 1):
            out.append(f"batch_syn must be an integer >= 1 or None (all images), got {self.batch_syn!r}")
        if not isinstance(self.dsa, bool):
            out.append(f"dsa must be true or false, got {self.dsa!r}")
        if self.init not in INITS:
            out.append(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if not isinstance(self.experts, ExpertSettings):
            out.append(f"experts must be ExpertSettings, got {type(self.experts).__name__}")
        if not out:
            out += self._reach_problems() + self._strategy_problems()
        return out

    def _reach_problems(self) -> list[str]:
        last = self.max_start_epoch - 1 + self.expert_epochs
        if last > self.experts.epochs:
            return [f"max_start_epoch {self.max_start_epoch} with expert_epochs {self.expert_epochs} reaches "
                    f"epoch {last}, past the experts' {self.experts.epochs} epochs (the latest start is "
                    "max_start_epoch - 1)"]
        return []

    def _strategy_problems(self) -> list[str]:
        try:
            DSA(self.dsa_strategy)
        except ValueError as err:
            return [f"dsa_strategy: {err}"]
        return []

    @property
    def last_epoch_needed(self) -> int:
        """The latest expert epoch an iteration can read: the last start plus expert_epochs."""
        return self.max_start_epoch - 1 + self.expert_epochs

    def to_dict(self) -> dict[str, Any]:
        return recorded(asdict(self))


def recorded(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without those of RECORDED_WHEN_SET left unset."""
    return {k: v for k, v in settings.items() if k not in RECORDED_WHEN_SET or v is not None}


# ---- one iteration, piece by piece -------------------------------------------------------------
def draw_student_steps(n_images: int, settings: MTTSettings, generator: torch.Generator,
                       dsa: DSA | None) -> list[StudentStep]:
    """The batches and augmentations of `syn_steps` student steps, in the reference's order: a
    permutation split into batches of `batch_syn`, taken from the end, a new one when used up."""
    batch = min(settings.batch_syn or n_images, n_images)
    steps: list[StudentStep] = []
    chunks: list[torch.Tensor] = []
    for _ in range(settings.syn_steps):
        if not chunks:
            chunks = list(torch.randperm(n_images, generator=generator).split(batch))
        indices = chunks.pop()
        steps.append(StudentStep(indices, None if dsa is None else dsa.sample(len(indices), generator)))
    return steps


@dataclass
class MTTState:
    """What an iteration changes: the images and the learnable lr (leaves), their optimisers, and
    the augmentation stream (student batches and DSA draws)."""

    images: torch.Tensor  # [K * ipc, C, H, W], class-major
    labels: torch.Tensor
    syn_lr: torch.Tensor  # 0-d
    image_optimizer: torch.optim.Optimizer
    lr_optimizer: torch.optim.Optimizer
    augment_generator: torch.Generator  # CPU
    clipped: bool = False  # whether the last step's image gradient was scaled down to the clip

    @classmethod
    def create(cls, images: torch.Tensor, labels: torch.Tensor, settings: MTTSettings, seed: int) -> "MTTState":
        images = images.detach().clone().requires_grad_(True)
        syn_lr = torch.tensor(float(settings.lr_syn_init), device=images.device).requires_grad_(True)
        return cls(images, labels.to(images.device), syn_lr,
                   torch.optim.SGD([images], lr=settings.lr_img, momentum=settings.momentum),
                   torch.optim.SGD([syn_lr], lr=settings.lr_lr, momentum=settings.momentum),
                   torch.Generator().manual_seed(derive_seed(seed, "augment")))


def mtt_step(state: MTTState, net: nn.Module, trajectory: Trajectory, start_epoch: int,
             settings: MTTSettings) -> float:
    """One MTT iteration on `trajectory` from `start_epoch`: the loss, then one optimiser step on
    the images and the lr. A non-finite loss raises before anything changes."""
    dsa = DSA(settings.dsa_strategy) if settings.dsa else None
    steps = draw_student_steps(len(state.images), settings, state.augment_generator, dsa)
    loss = matching_loss(net, trajectory.layout, trajectory, start_epoch, settings.expert_epochs, state.images,
                         state.labels, state.syn_lr, steps, dsa)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteError(f"the trajectory-matching loss is {value} (start epoch {start_epoch} of a "
                             f"{trajectory.arch} expert); images and lr left unchanged")
    state.images.grad, state.syn_lr.grad = torch.autograd.grad(loss, [state.images, state.syn_lr])
    state.clipped = clip_grad_norm(state.images, settings.max_img_grad_norm)
    state.image_optimizer.step()
    state.lr_optimizer.step()
    return value


def clip_grad_norm(tensor: torch.Tensor, max_norm: float | None) -> bool:
    """Scale `tensor.grad` down to `max_norm` where its norm is larger; whether it was. One expert
    architecture's rare steep step (a pool's shallow net, say) would otherwise move the images by
    lr_img times it, far beyond what the other architectures' steps do."""
    if max_norm is None:
        return False
    norm = float(tensor.grad.norm())
    if norm <= max_norm:
        return False
    tensor.grad.mul_(max_norm / norm)
    return True


def draw_expert(pool: ModelPool, experts: Mapping[str, Sequence[Trajectory]], iteration: int,
                generator: torch.Generator) -> tuple[str, int]:
    """The architecture (from the pool) and the index of one of its experts (uniform)."""
    arch = pool.sample(iteration)
    return arch, int(torch.randint(len(experts[arch]), (1,), generator=generator))


def draw_start_epoch(settings: MTTSettings, generator: torch.Generator) -> int:
    return int(torch.randint(settings.max_start_epoch, (1,), generator=generator))


# ---- a run --------------------------------------------------------------------------------------
def initial_images(train: Any, info: DatasetInfo, ipc: int, init: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`ipc` images per class, class-major: real ones drawn per class, or standard normal noise."""
    from raydd.core.datasets.class_sizes import check_ipc_fits
    from raydd.core.distill.sampler import ClassSampler

    generator = torch.Generator().manual_seed(derive_seed(seed, "data"))
    labels = torch.arange(info.num_classes).repeat_interleave(ipc)
    sampler = ClassSampler(train.labels.cpu(), info.num_classes)
    check_ipc_fits(ipc, sampler.class_sizes, info)  # the one ipc rule, noise or real alike
    if init == "noise":
        return torch.randn(len(labels), *info.shape, generator=generator), labels
    index, _ = sampler.sample(ipc, generator)
    return train.images.cpu()[index.flatten()].clone(), labels


def _check_set(images: torch.Tensor, labels: torch.Tensor, info: DatasetInfo) -> None:
    if images.ndim != 4 or tuple(images.shape[1:]) != info.shape or not images.is_floating_point():
        raise ValueError(f"synthetic images must be float [N, {', '.join(map(str, info.shape))}] for {info.name}, "
                         f"got {images.dtype} {tuple(images.shape)}")
    if labels.shape != (len(images),) or labels.dtype != torch.int64 or not (
            0 <= int(labels.min()) and int(labels.max()) < info.num_classes):
        raise ValueError(f"synthetic labels must be {len(images)} int64 classes in [0, {info.num_classes}), got "
                         f"{labels.dtype} {tuple(labels.shape)}")


class MTTRun:
    """One MTT distillation: its state, the pool and experts it draws from, and what it drew."""

    def __init__(self, settings: MTTSettings, info: DatasetInfo, images: torch.Tensor, labels: torch.Tensor,
                 experts: Mapping[str, Sequence[Trajectory]], pool: PoolSpec, seed: int,
                 device: str | torch.device = "cpu") -> None:
        self.settings, self.info, self.seed = settings, info, seed
        self.device = torch.device(device)
        _check_set(images, labels, info)
        reuse_freed_memory_on(self.device)  # every iteration allocates the same unroll again
        self.experts = {arch: list(experts.get(arch, ())) for arch in pool.archs}
        self.nets = {arch: self._student_net(arch) for arch in pool.archs}
        self.state = MTTState.create(images.to(self.device), labels, settings, seed)
        self.pool = ModelPool(pool, derive_seed(seed, "pool"))
        self.expert_generator = torch.Generator().manual_seed(derive_seed(seed, "experts"))
        self.iteration = 0
        self.losses: list[float] = []
        self.drawn: list[tuple[str, int, int]] = []  # (architecture, expert index, start epoch)
        self.clipped: dict[str, int] = {}  # architecture -> iterations whose image gradient was clipped
        self.wall_seconds = 0.0

    def _student_net(self, arch: str) -> nn.Module:
        """The architecture as a function of its flat parameters; refuses what MTT cannot use."""
        info = self.info
        layout = check_unrollable(arch, info.channels, info.num_classes, info.image_size)
        trajectories = self.experts[arch]
        if not trajectories:
            raise ValueError(f"the pool names {arch}, but no expert of {arch} was given")
        for index, trajectory in enumerate(trajectories):
            if trajectory.arch != arch or trajectory.layout != layout:
                raise ValueError(f"expert {index} given for {arch} is a {trajectory.arch} trajectory of "
                                 "another parameter layout")
            if trajectory.epochs < self.settings.last_epoch_needed:
                raise ValueError(f"expert {index} of {arch} has {trajectory.epochs} epochs; max_start_epoch "
                                 f"{self.settings.max_start_epoch} with expert_epochs {self.settings.expert_epochs}"
                                 f" reads up to epoch {self.settings.last_epoch_needed}")
        with torch.random.fork_rng(devices=[]):  # its weights are never used: only its structure
            return build_net(arch, info.channels, info.num_classes, info.image_size).to(self.device)

    @property
    def images(self) -> torch.Tensor:
        return self.state.images

    @property
    def syn_lr(self) -> float:
        return float(self.state.syn_lr.detach())

    def step(self) -> float:
        started = time.perf_counter()
        arch, index = draw_expert(self.pool, self.experts, self.iteration, self.expert_generator)
        start_epoch = draw_start_epoch(self.settings, self.expert_generator)
        loss = mtt_step(self.state, self.nets[arch], self.experts[arch][index], start_epoch, self.settings)
        self.iteration += 1
        self.losses.append(loss)
        self.drawn.append((arch, index, start_epoch))
        if self.state.clipped:
            self.clipped[arch] = self.clipped.get(arch, 0) + 1
        self.wall_seconds += time.perf_counter() - started
        return loss

    # ---- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "settings": self.settings.to_dict(),
            "seed": self.seed,
            "experts_per_arch": {arch: len(t) for arch, t in self.experts.items()},
            "iteration": self.iteration,
            "images": self.state.images.detach().cpu().clone(),
            "syn_lr": self.state.syn_lr.detach().cpu().clone(),
            "image_optimizer": self.state.image_optimizer.state_dict(),
            "lr_optimizer": self.state.lr_optimizer.state_dict(),
            "pool": self.pool.state_dict(),
            "rng": {"experts": self.expert_generator.get_state(),
                    "augment": self.state.augment_generator.get_state()},
            "losses": list(self.losses),
            "drawn": [list(d) for d in self.drawn],
            "clipped": dict(self.clipped),
            "wall_seconds": self.wall_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"MTT checkpoint version {state.get('version')!r}, expected {STATE_VERSION}")
        if state["settings"] != self.settings.to_dict() or state["seed"] != self.seed:
            raise ValueError("the MTT checkpoint was written by a run of other settings or another seed")
        counts = {arch: len(t) for arch, t in self.experts.items()}
        if state["experts_per_arch"] != counts:
            raise ValueError(f"the MTT checkpoint drew from experts {state['experts_per_arch']}, this run has {counts}")
        with torch.no_grad():
            self.state.images.copy_(state["images"].to(self.device))
            self.state.syn_lr.copy_(state["syn_lr"].to(self.device))
        self.state.image_optimizer.load_state_dict(state["image_optimizer"])
        self.state.lr_optimizer.load_state_dict(state["lr_optimizer"])
        self.pool.load_state_dict(state["pool"])
        self.expert_generator.set_state(state["rng"]["experts"])
        self.state.augment_generator.set_state(state["rng"]["augment"])
        self.iteration = int(state["iteration"])
        self.losses = list(state["losses"])
        self.drawn = [tuple(d) for d in state["drawn"]]
        self.clipped = dict(state.get("clipped", {}))  # absent from checkpoints of runs without a clip
        self.wall_seconds = float(state["wall_seconds"])
