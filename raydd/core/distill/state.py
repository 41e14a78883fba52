"""What one outer iteration of DC/DSA/DM reads and changes, field by field.

A method is `iterate(state, net) -> loss`: it sees the synthetic images and their optimiser, the
real images and their class sampler, the two random streams it draws from, the augmentation, the
distance and its few settings, and nothing else of the run. The `Distiller` owns this state between
iterations (and checkpoints it); a method changes only the images, the optimiser and the streams.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable

import torch

from raydd.core.augment import DSA
from raydd.core.distill.matching import Distance
from raydd.core.distill.sampler import ClassSampler


@dataclass(frozen=True)
class MatchingSettings:
    """The settings an iteration reads, taken by name from the run's `DistillConfig` (the set size)
    and its `DCSettings` (the rest)."""

    ipc: int
    outer_loop: int  # matching steps per iteration (DC/DSA)
    inner_loop: int  # net epochs on the synthetic set between matching steps (DC/DSA)
    batch_real: int  # real images per class per matching step
    batch_train: int  # synthetic images per inner-loop SGD step
    lr_net: float
    momentum_net: float
    bn_batch_per_class: int  # real images per class that set BatchNorm running stats

    @classmethod
    def of(cls, config: Any) -> "MatchingSettings":
        return cls(ipc=config.ipc, **{f.name: getattr(config.settings, f.name) for f in fields(cls) if f.name != "ipc"})


@dataclass
class IterationState:
    settings: MatchingSettings
    images: torch.Tensor  # synthetic [K * ipc, C, H, W], class-major; the leaf being learned
    labels: torch.Tensor  # [K * ipc]
    image_optimizer: torch.optim.Optimizer
    real_images: torch.Tensor  # the training split, on the run's device
    sampler: ClassSampler  # real batches per class, as index tables into `real_images`
    data_generator: torch.Generator  # real batches, inner-loop shuffles (on the run's device)
    augment_generator: torch.Generator  # DSA draws (CPU)
    dsa: DSA
    distance: Distance  # gradient distance of DC/DSA
    first_order: Callable[[Callable], Callable]  # torch.compile for a first-order pass, or identity

    @property
    def num_classes(self) -> int:
        return self.sampler.num_classes

    @property
    def class_labels(self) -> torch.Tensor:
        return self.sampler.class_labels

    def class_batches(self, augment: bool) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """A real batch per class (K tensors of m images), its weights [K, m] (1 / n_c on the
        class's draws, 0 on padding) and the synthetic images viewed [K, ipc, C, H, W]. With
        `augment`, the real and synthetic images of a class share one DSA draw (siamese)."""
        idx, weights = self.sampler.sample(self.settings.batch_real, self.data_generator)
        real = [self.real_images[i] for i in idx]
        syn = self.images.view(self.num_classes, self.settings.ipc, *self.images.shape[1:])
        if augment:
            draws = [self.dsa.sample(1, self.augment_generator) for _ in range(self.num_classes)]
            real = [self.dsa.apply(x, d) for x, d in zip(real, draws)]
            syn = torch.stack([self.dsa.apply(s, d) for s, d in zip(syn, draws)])
        return real, weights, syn

    def step_images(self, loss: torch.Tensor) -> None:
        """One optimiser step on the synthetic images down `loss`."""
        # grad w.r.t. the images only: backward() would also fill the net's .grad for nothing.
        self.images.grad = torch.autograd.grad(loss, self.images)[0]
        self.image_optimizer.step()
