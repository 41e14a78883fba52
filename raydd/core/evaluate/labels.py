"""Label regimes: what students train on besides the images, and what those labels take to store.

- `hard`: the class of every image (int64 [N]), cross-entropy.
- `soft`: the set's stored soft labels (float32 [N, classes], each row a probability vector),
  soft cross-entropy `-sum_c p_c log softmax(s)_c` (`F.cross_entropy` with probability targets).
- `relabel`: a teacher gives the labels of every (augmented) batch: its probabilities at T = 1, as
  SRe2L and RDED evaluate. Trained as the KD loss at alpha = 1 and T = 1, whose gradient is that of
  the soft cross-entropy to the teacher's probabilities (the two differ by the teacher's entropy,
  a constant). The teacher is trained on the whole training split (`whole`) or is the KD teacher
  trained on the set (`set`).

`label_bytes` is the storage a regime's labels need beside the images, the figure soft-label
methods are compared on: 8 bytes per image for int64 class labels (as raydd stores them), 4 per
image and class for float32 soft labels, and the relabelling teacher's float32 weights and buffers
(its labels are made, not stored).
"""

from __future__ import annotations

from functools import lru_cache

import torch

HARD_LABEL_BYTES = 8  # one int64 class index per image, as the artifact stores labels
SOFT_LABEL_BYTES = 4  # one float32 per image and class
SOFT_SUM_TOLERANCE = 1e-3  # a stored probability row may sum to 1 within float32 rounding of a saved file


def check_soft_labels(soft: torch.Tensor, images: int, num_classes: int, where: str) -> torch.Tensor:
    """`soft` as float32 [images, num_classes] probability rows, or a ValueError saying what is wrong."""
    if not soft.is_floating_point() or soft.ndim != 2 or tuple(soft.shape) != (images, num_classes):
        raise ValueError(f"{where}: soft labels are {soft.dtype} {list(soft.shape)}; expected float "
                         f"[{images}, {num_classes}] (one probability row per image)")
    if not bool(torch.isfinite(soft).all()) or bool((soft < 0).any()):
        raise ValueError(f"{where}: soft labels hold negative, NaN or infinite values; each row must be probabilities")
    sums = soft.double().sum(dim=1)
    worst = int((sums - 1).abs().argmax())
    if abs(float(sums[worst]) - 1) > SOFT_SUM_TOLERANCE:
        raise ValueError(f"{where}: soft label row {worst} sums to {float(sums[worst]):.4f}, not 1; "
                         "store probabilities (softmax of logits), not logits")
    return soft.to(torch.float32)


def label_bytes(regime: str, images: int, info, teacher: str) -> int:
    """Bytes the labels of `images` images take under `regime` (see the module docstring)."""
    if regime == "hard":
        return HARD_LABEL_BYTES * images
    if regime == "soft":
        return SOFT_LABEL_BYTES * images * info.num_classes
    return _weight_bytes(teacher, info.channels, info.num_classes, info.image_size)


@lru_cache(maxsize=16)
def _weight_bytes(arch: str, channels: int, num_classes: int, image_size: int) -> int:
    from raydd.core.archs import build_net

    net = build_net(arch, channels, num_classes, image_size)
    return sum(t.numel() * t.element_size() for t in net.state_dict().values() if t.is_floating_point())


def check_training_split(data, what: str) -> None:
    """A ValueError when `data` has no training images to train `what` on."""
    if len(data.train) == 0:
        raise ValueError(f"{data.info.name} has no training split (0 images after the validation carve): "
                         f"{what} needs one")


def needs_whole_teacher(cfg, has_soft_labels: bool) -> bool:
    """Whether a set's regime needs the whole-data teacher: to relabel every batch, or to give the
    soft labels of a set that stores none."""
    return (cfg.labels == "relabel" and cfg.relabel_teacher == "whole") or (cfg.labels == "soft" and not has_soft_labels)


@torch.no_grad()
def teacher_probabilities(teacher, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The teacher's probabilities (softmax, T = 1) on `images`: soft labels given by a teacher."""
    logits = torch.cat([teacher(images[s : s + batch_size]) for s in range(0, len(images), batch_size)])
    return torch.softmax(logits.float(), dim=1)
