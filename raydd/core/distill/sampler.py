"""Real batches per class, sampled on the device by index tensors (no DataLoader, no host sync).

Classes may hold different numbers of images (digits: 125-135 each), so a batch is a padded
[K, n] index table with per-example weights: 1 / n_c on the n_c real draws of class c, 0 on the
padding. A weighted sum of per-example losses is then exactly the class mean of DC's code, which
takes min(batch_real, class size) images without replacement.
"""

from __future__ import annotations

import torch

from raydd.core.datasets.labels import check_labels


class ClassSampler:
    def __init__(self, labels: torch.Tensor, num_classes: int) -> None:
        check_labels(labels, num_classes, "the training labels")
        counts = torch.bincount(labels, minlength=num_classes)
        self.class_sizes = counts.tolist()
        empty = [c for c, n in enumerate(self.class_sizes) if n == 0]
        if empty:
            raise ValueError(f"classes {empty} have no training images")
        width = max(self.class_sizes)
        order = torch.argsort(labels, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(width, device=labels.device)
        # Padding slots repeat the class's first image; their weight is zero.
        position = starts[:, None] + torch.where(slot[None] < counts[:, None], slot[None], 0)
        self._table = order[position]  # [K, width] dataset indices
        self._valid = slot[None] < counts[:, None]  # [K, width]
        self._sizes = counts
        self.num_classes = num_classes
        self.class_labels = torch.arange(num_classes, device=labels.device)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices [K, m], weights [K, m]) with m = min(n, largest class); rows of weights sum to 1."""
        m = min(n, self._table.shape[1])
        keys = torch.rand(self._table.shape, generator=generator, device=self._table.device)
        keys = keys.masked_fill(~self._valid, 2.0)  # padding sorts last
        picked = keys.argsort(dim=1)[:, :m]
        taken = torch.clamp(self._sizes, max=m).to(torch.float32)
        weights = (torch.arange(m, device=picked.device)[None] < taken[:, None]) / taken[:, None]
        return self._table.gather(1, picked), weights
