"""What an expert trajectory is: how it is trained (`ExpertSettings`) and on what (`ExpertIdentity`).

The defaults are MTT's `buffer.py`: plain SGD at lr 0.01 (no momentum, no weight decay, no decay of
the learning rate), batches of 256, 50 epochs, DSA on every batch, parameters saved after every
epoch. `ExpertIdentity` names one expert by everything that changes its numbers, and its `key` is
the content address the expert store files it under.
"""

from __future__ import annotations

import hashlib
import math
import shlex
import numbers
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from raydd import strict_json

AUGMENTS = ("dsa", "dc", "none")  # DSA (MTT's default), DC's crop_scale_rotate (its --dsa False), none
IDENTITY_VERSION = 1  # bump when training changes numbers for the same settings


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ExpertSettings:
    """How one expert trains on the whole training split (MTT `buffer.py` flags in comments)."""

    epochs: int = 50  # --train_epochs: the trajectory holds epochs + 1 parameter vectors
    lr: float = 0.01  # --lr_teacher, SGD, constant (the reference's --decay is off by default)
    momentum: float = 0.0  # --mom
    weight_decay: float = 0.0  # --l2
    batch_size: int = 256  # --batch_train
    augment: str = "dsa"  # --dsa True: one DSA op per batch, parameters drawn per image
    zca: bool = False  # --zca: train on ZCA-whitened images (MTT's CIFAR runs)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("ExpertSettings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        out = []
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                out.append(f"{name} must be an integer >= 1, got {value!r}")
        if not _is_number(self.lr) or self.lr <= 0:
            out.append(f"lr must be a finite number > 0, got {self.lr!r}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                out.append(f"{name} must be a finite number >= 0, got {value!r}")
        if _is_number(self.momentum) and self.momentum >= 1:
            out.append(f"momentum must be < 1, got {self.momentum!r}")
        if self.augment not in AUGMENTS:
            out.append(f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if not isinstance(self.zca, bool):
            out.append(f"zca must be true or false, got {self.zca!r}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExpertIdentity:
    """One expert: the data it trains on (dataset, validation carve, image geometry), architecture,
    settings, seed."""

    dataset: str
    val_size: float | int | None
    split_seed: int | None
    channels: int
    image_size: int
    num_classes: int
    arch: str
    settings: ExpertSettings
    seed: int

    @classmethod
    def of(cls, data: Any, arch: str, settings: ExpertSettings, seed: int) -> "ExpertIdentity":
        if not _is_int(seed) or seed < 0:
            raise ValueError(f"an expert's seed must be an integer >= 0, got {seed!r}")
        info = data.info
        return cls(info.name, data.val_size, data.split_seed, info.channels, info.image_size, info.num_classes,
                   arch, settings, int(seed))

    def to_dict(self) -> dict[str, Any]:
        return {"version": IDENTITY_VERSION, "dataset": self.dataset, "val_size": self.val_size,
                "split_seed": self.split_seed, "channels": self.channels, "image_size": self.image_size,
                "num_classes": self.num_classes, "arch": self.arch, "settings": self.settings.to_dict(),
                "seed": self.seed}

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-256 of the canonical identity: the expert's directory name."""
        text = strict_json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.arch} seed {self.seed}"


def train_command(dataset: str, archs: Sequence[str], count: int, settings, storage: str | Path) -> str:
    """The `raydd experts train` command line that makes (or repairs) these experts."""
    words = ["raydd", "experts", "train", "--dataset", dataset, "--arch", ",".join(archs), "--experts", str(count),
             "--epochs", str(settings.epochs), "--lr-teacher", f"{settings.lr:g}",
             "--batch-train", str(settings.batch_size)]
    words += ["--zca"] if settings.zca else []
    words += {"dsa": [], "dc": ["--no-dsa"]}.get(settings.augment, [])
    words += ["--storage", str(storage)]
    return shlex.join(words)
