"""Train one expert and keep its parameters after every epoch: MTT's `buffer.py`, one expert.

The expert trains on the whole training split (the validation carve excluded) with raydd's
training loop (`raydd.core.evaluate.train_net`): SGD, a fresh shuffle of the split every epoch,
the batch augmented per image (DSA: one op per batch, its parameters drawn per image, as
`buffer.py` calls DiffAugment without a seed), no learning-rate decay. Its parameters are recorded
before the first epoch and after each epoch: `epochs + 1` vectors, as `buffer.py` saves them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from raydd.core.datasets import Dataset
from raydd.core.datasets.zca import ZCAWhitening, fit_zca, whiten_dataset
from raydd.core.evaluate import EvalConfig, train_net
from raydd.core.evaluate.train import build_seeded, make_generator
from raydd.core.experts.params import ParamLayout, check_unrollable
from raydd.core.experts.settings import ExpertSettings
from raydd.core.seeding import derive_seed

NO_DECAY = 1.0  # the learning rate is multiplied by this at the decay epoch: unchanged, as buffer.py


@dataclass(frozen=True, eq=False)
class Trajectory:
    """An expert's parameters [epochs + 1, numel] (float32, CPU): row e is the net after e epochs."""

    arch: str
    layout: ParamLayout
    params: torch.Tensor

    def __post_init__(self) -> None:
        if self.params.ndim != 2 or self.params.shape[1] != self.layout.numel or len(self.params) < 2:
            raise ValueError(f"a {self.arch} trajectory needs [epochs + 1 >= 2, {self.layout.numel}] "
                             f"parameters, got {tuple(self.params.shape)}")

    @property
    def epochs(self) -> int:
        return len(self.params) - 1

    def params_at(self, epoch: int) -> torch.Tensor:
        if not 0 <= epoch <= self.epochs:
            raise IndexError(f"epoch {epoch} is outside this {self.epochs}-epoch trajectory")
        return self.params[epoch]


def expert_protocol(settings: ExpertSettings) -> EvalConfig:
    """The settings as raydd's training loop reads them."""
    return EvalConfig(epochs=settings.epochs, lr=settings.lr, momentum=settings.momentum,
                      weight_decay=settings.weight_decay, batch_size=settings.batch_size,
                      lr_decay=NO_DECAY, augment=settings.augment)


def training_data(data: Dataset, settings: ExpertSettings, zca: ZCAWhitening | None) -> Dataset:
    """The data as the expert sees it: whitened with `zca` (fitted on the training split when not
    given) when the settings ask for ZCA; a transform given without ZCA settings is refused."""
    if not settings.zca:
        if zca is not None:
            raise ValueError("a ZCA transform was given, but these expert settings do not whiten (zca false)")
        return data
    return whiten_dataset(data, zca if zca is not None else fit_zca(data.train, data.info))


def train_expert(arch: str, data: Dataset, settings: ExpertSettings, seed: int,
                 device: str | torch.device = "cpu", zca: ZCAWhitening | None = None) -> tuple[Trajectory, float]:
    """One expert of `arch` (its initialisation and data order from `seed`); the trajectory and the
    seconds its training took."""
    info = data.info
    layout = check_unrollable(arch, info.channels, info.num_classes, info.image_size)
    train = training_data(data, settings, zca).train.to(device)
    net = build_seeded(arch, info, derive_seed(seed, "expert", "init")).to(device)
    snapshots: list[torch.Tensor] = []

    def record(epoch: int, optimizer: torch.optim.Optimizer) -> None:
        snapshots.append(layout.flatten(net).cpu())

    started = time.perf_counter()
    train_net(net, train.images, train.labels, expert_protocol(settings),
              make_generator(derive_seed(seed, "expert", "data")), on_epoch=record)
    snapshots.append(layout.flatten(net).cpu())
    return Trajectory(arch, layout, torch.stack(snapshots)), time.perf_counter() - started
