"""`Distiller`: the state of one DC/DSA/DM run and one outer iteration per `step()`.

Randomness comes from four independent streams, each seeded from the run's seed and each saved in
`state_dict()`: the pool's generator (which architecture), the ambient torch RNG used while a net
is built and run (its initialisation), the data generator on the device (real batches, noise init,
inner-loop shuffles) and the CPU augmentation generator (DSA draws). The ambient stream is
swapped in only inside `step()`, so the process's global RNG is left as it was found.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Iterator

import torch

from raydd.core.archs import build_net
from raydd.core.augment import DSA
from raydd.core.datasets.class_sizes import check_ipc_fits
from raydd.core.distill.compiled import compiled, compiles, eager
from raydd.core.distill.config import DistillConfig
from raydd.core.distill.errors import NonFiniteError
from raydd.core.distill.matching import DISTANCES
from raydd.core.distill.methods import METHODS
from raydd.core.distill.sampler import ClassSampler
from raydd.core.distill.state import IterationState, MatchingSettings
from raydd.core.pool import ModelPool
from raydd.core.seeding import derive_seed

STATE_VERSION = 1


class Distiller:
    """One run: the iteration state (images, optimiser, real data, streams), the pool and the
    ambient RNG; `step()` runs one outer iteration of the configured method."""

    def __init__(self, cfg: DistillConfig, data: Any, device: str | torch.device = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.info = data.info
        self._carve = (data.val_size, data.split_seed)
        _check_fits(cfg, data)
        self.method = METHODS.get(cfg.method)
        if self.method.iterate is None:
            raise ValueError(f"method {cfg.method} does not match on a fresh net each iteration; run it with distill()")
        real_images = data.train.images.to(self.device)
        sampler = ClassSampler(data.train.labels.to(self.device), self.info.num_classes)
        check_ipc_fits(cfg.ipc, sampler.class_sizes, self.info)
        self.compiled = compiles(cfg.settings.compile, cfg.iterations, len(cfg.pool.archs), self.device.type)

        self.pool = ModelPool(cfg.pool, derive_seed(cfg.seed, "pool"))
        data_generator = torch.Generator(self.device).manual_seed(derive_seed(cfg.seed, "data"))
        self._ambient = _seeded_ambient_state(derive_seed(cfg.seed, "nets"), self.device)
        images = _initial_images(cfg, self.info, real_images, sampler, data_generator).requires_grad_(True)
        self.state = IterationState(
            settings=MatchingSettings.of(cfg),
            images=images,
            labels=sampler.class_labels.repeat_interleave(cfg.ipc),
            image_optimizer=torch.optim.SGD([images], lr=cfg.lr_img, momentum=cfg.momentum_img),
            real_images=real_images,
            sampler=sampler,
            data_generator=data_generator,
            augment_generator=torch.Generator().manual_seed(derive_seed(cfg.seed, "augment")),
            dsa=DSA(cfg.settings.dsa_strategy),
            distance=DISTANCES.get(cfg.settings.distance),
            first_order=compiled if self.compiled else eager,
        )
        self.iteration = 0
        self.losses: list[float] = []
        self.archs_drawn: list[str] = []
        self.wall_seconds = 0.0

    @property
    def images(self) -> torch.Tensor:
        return self.state.images

    @property
    def labels(self) -> torch.Tensor:
        return self.state.labels

    # ---- running ------------------------------------------------------------------------------
    def step(self) -> float:
        """One outer iteration: draw an architecture, initialise it, match; returns the loss."""
        start = time.perf_counter()
        arch = self.pool.sample(self.iteration)
        with self._ambient_rng():
            net = build_net(arch, self.info.channels, self.info.num_classes, self.info.image_size)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.cfg.settings.precision == "bf16"):
                loss = self.method.iterate(self.state, net.to(self.device))
        value = self._finite_loss(loss)
        self.iteration += 1
        self.losses.append(value)
        self.archs_drawn.append(arch)
        self.wall_seconds += time.perf_counter() - start
        return value

    def _finite_loss(self, loss: torch.Tensor) -> float:
        """The loss as a float, read with the images' sum in the iteration's one host sync; a
        non-finite either stops the run before anything of it is checkpointed. (The sum of finite
        images overflows only past ~3e38 / their count: images that large have diverged anyway.)"""
        value, images_sum = torch.stack((loss.detach(), self.images.detach().sum())).tolist()
        if math.isfinite(value) and math.isfinite(images_sum):
            return value
        what = f"the loss is {value}" if not math.isfinite(value) else "the synthetic images hold inf or nan"
        raise NonFiniteError(f"distillation diverged at iteration {self.iteration + 1}: {what}; stopped "
                             f"before checkpointing it (is lr_img {self.cfg.lr_img:g} too large?)")

    @contextlib.contextmanager
    def _ambient_rng(self) -> Iterator[None]:
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda, device_type="cuda"):
            torch.set_rng_state(self._ambient["cpu"])
            if cuda:
                torch.cuda.set_rng_state(self._ambient["cuda"], self.device)
            yield
            self._ambient = _current_ambient_state(self.device)

    def synthetic_set(self):
        from raydd.core.artifact import SyntheticSet, build_meta

        meta = build_meta(self.cfg, self.info, self.iteration, self.wall_seconds, self.losses,
                          val_size=self._carve[0], split_seed=self._carve[1])
        meta["compiled"] = self.compiled  # what compile=auto decided on this machine
        return SyntheticSet(self.images.detach().cpu().clone(), self.labels.cpu().clone(), meta)

    # ---- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config": self.cfg.to_dict(),
            "iteration": self.iteration,
            "images": self.images.detach().cpu().clone(),
            "image_optimizer": self.state.image_optimizer.state_dict(),
            "pool": self.pool.state_dict(),
            "rng": {
                "ambient": {k: v.clone() for k, v in self._ambient.items()},
                "data": self.state.data_generator.get_state(),
                "augment": self.state.augment_generator.get_state(),
            },
            "losses": list(self.losses),
            "archs_drawn": list(self.archs_drawn),
            "wall_seconds": self.wall_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"checkpoint version {state.get('version')!r}, expected {STATE_VERSION}")
        check_same_config(state["config"], self.cfg)
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.device))
        self.state.image_optimizer.load_state_dict(state["image_optimizer"])
        self.pool.load_state_dict(state["pool"])
        self._ambient = {k: v.clone() for k, v in state["rng"]["ambient"].items()}
        self.state.data_generator.set_state(state["rng"]["data"])
        self.state.augment_generator.set_state(state["rng"]["augment"])
        self.iteration = int(state["iteration"])
        self.losses = list(state["losses"])
        self.archs_drawn = list(state["archs_drawn"])
        self.wall_seconds = float(state["wall_seconds"])


def check_same_config(saved: dict[str, Any], cfg: DistillConfig, checkpoint: str = "the checkpoint") -> None:
    """A ValueError naming every setting in which `saved` (a checkpoint's `config`) differs from
    `cfg`, with both values: a run continues only its own checkpoint."""
    there, here = _flat(saved), _flat(cfg.to_dict())
    differing = [f"{key} {_shown(there.get(key))} there, {_shown(here.get(key))} here"
                 for key in sorted(there.keys() | here.keys()) if there.get(key) != here.get(key)]
    if differing:
        raise ValueError(f"{checkpoint} was written by another configuration: {'; '.join(differing)}")


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """`{"pool": {"archs": {...}, "warmup": 0}}` -> `{"pool.archs": {...}, "pool.warmup": 0}`."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        parts = value.items() if isinstance(value, dict) else [(None, value)]
        flat.update({key if part is None else f"{key}.{part}": item for part, item in parts})
    return flat


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, (str, dict, list, tuple)) else str(value)


def _seeded_ambient_state(seed: int, device: torch.device) -> dict[str, torch.Tensor]:
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        torch.manual_seed(seed)
        return _current_ambient_state(device)


def _current_ambient_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _initial_images(cfg: DistillConfig, info: Any, real_images: torch.Tensor, sampler: ClassSampler,
                    generator: torch.Generator) -> torch.Tensor:
    """Noise, or `ipc` real images of each class (ipc <= every class size: no padding)."""
    if cfg.init == "noise":
        shape = (info.num_classes * cfg.ipc, *info.shape)
        return torch.randn(*shape, generator=generator, device=real_images.device)
    idx, _ = sampler.sample(cfg.ipc, generator)
    return real_images[idx.flatten()].clone()


def _check_fits(cfg: DistillConfig, data: Any) -> None:
    if cfg.dataset != data.info.name:
        raise ValueError(f"config is for dataset {cfg.dataset!r} but the data is {data.info.name!r}")
    # Build each pool member once now, so a net that cannot take these images fails before any work
    # (fork_rng: these throw-away builds must not move the caller's RNG).
    with torch.random.fork_rng(devices=[]):
        for arch in cfg.pool.archs:
            build_net(arch, data.info.channels, data.info.num_classes, data.info.image_size)

