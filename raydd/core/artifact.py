"""The synthetic-set artifact: the one hand-off between distillation and evaluation.

A directory holding `images.safetensors` (images + labels), `meta.json` (everything needed to
interpret and reproduce the set) and `grid.png` (one row per class, for eyes). `save_synset`
writes into a temporary sibling directory and renames it into place, so a reader never sees a
half-written artifact; `load_synset` refuses anything missing, truncated or foreign.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FORMAT_NAME = "raydd-synset"
FORMAT_VERSION = 1
IMAGES_FILE = "images.safetensors"
META_FILE = "meta.json"
GRID_FILE = "grid.png"


class ArtifactError(ValueError):
    """A synthetic-set directory that is missing, incomplete, corrupt or of another format."""


@dataclass(frozen=True, eq=False)
class SyntheticSet:
    """Images float32 [N, C, H, W] (normalised like the dataset), labels int64 [N], and `meta`."""

    images: torch.Tensor
    labels: torch.Tensor
    meta: dict[str, Any]

    @property
    def ipc(self) -> int:
        return int(self.meta["ipc"])


def build_meta(cfg: Any, info: Any, iterations: int, wall_seconds: float,
               losses: list[float] | None = None, *, val_size: float | int | None = None,
               split_seed: int | None = None) -> dict[str, Any]:
    """meta.json's content for a run of `cfg` on a dataset described by `info`."""
    from raydd import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "dataset": {
            "name": info.name,
            "mean": list(info.mean),
            "std": list(info.std),
            "channels": info.channels,
            "image_size": info.image_size,
            "num_classes": info.num_classes,
            "class_names": list(info.class_names),
            "val_size": val_size,  # the validation carve distillation left out of its training data
            "split_seed": split_seed,
        },
        "method": cfg.method,
        "ipc": cfg.ipc,
        "pool": cfg.pool.as_dict(),
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "iterations_done": iterations,
        "wall_seconds": round(wall_seconds, 3),
        "final_loss": losses[-1] if losses else None,
        "raydd_version": __version__,
    }


def save_synset(synset: SyntheticSet, directory: str | os.PathLike) -> Path:
    """Write the artifact atomically (temp directory next to the target, then rename)."""
    _check_consistent(synset.images, synset.labels, synset.meta, "synthetic set")
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        _write_files(synset, tmp)
        _chmod_like_umask(tmp)
        if target.exists():  # replace a previous artifact: move it aside, swap, then drop it
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _chmod_like_umask(directory: Path) -> None:
    # mkdtemp makes 0700 directories; an artifact is meant to be read by evaluation workers too.
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


def _write_files(synset: SyntheticSet, directory: Path) -> None:
    from safetensors.torch import save_file

    tensors = {"images": synset.images.detach().cpu().contiguous(),
               "labels": synset.labels.detach().cpu().contiguous()}
    save_file(tensors, str(directory / IMAGES_FILE), metadata={"format": FORMAT_NAME})
    # No sort_keys: key order carries meaning (the pool's first architecture is its main one).
    (directory / META_FILE).write_text(json.dumps(synset.meta, indent=2) + "\n")
    save_grid(synset, directory / GRID_FILE)


def save_grid(synset: SyntheticSet, path: Path) -> None:
    """De-normalised images, one row per class (rows are `ipc` wide)."""
    from torchvision.utils import save_image

    from raydd.core.datasets import denormalize
    from raydd.core.datasets.types import DatasetInfo

    d = synset.meta["dataset"]
    info = DatasetInfo(d["name"], d["channels"], d["image_size"], d["num_classes"],
                       tuple(d["mean"]), tuple(d["std"]),
                       tuple(d.get("class_names") or [str(c) for c in range(d["num_classes"])]))
    order = torch.argsort(synset.labels.cpu(), stable=True)
    images = denormalize(synset.images.detach().cpu()[order].clone(), info)
    save_image(images, str(path), nrow=synset.ipc, padding=1)


def load_synset(directory: str | os.PathLike) -> SyntheticSet:
    """Read and check an artifact; every defect is an `ArtifactError` naming the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"no synthetic set at {directory}: not a directory")
    meta = _read_meta(directory)
    images, labels = _read_tensors(directory)
    _check_consistent(images, labels, meta, str(directory))
    return SyntheticSet(images, labels, meta)


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.is_file():
        raise ArtifactError(f"{path} is missing")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ArtifactError(f"{path}: format {found!r} is not {FORMAT_NAME!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format version {meta.get('format_version')!r}; this raydd reads {FORMAT_VERSION}"
        )
    for key in ("dataset", "ipc", "method"):
        if key not in meta:
            raise ArtifactError(f"{path}: required key {key!r} is missing")
    return meta


def _read_tensors(directory: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = directory / IMAGES_FILE
    if not path.is_file():
        raise ArtifactError(f"{path} is missing")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is truncated or corrupt: {exc}") from None
    missing = {"images", "labels"} - set(tensors)
    if missing:
        raise ArtifactError(f"{path} lacks tensors {sorted(missing)}")
    return tensors["images"], tensors["labels"]


def _check_consistent(images: torch.Tensor, labels: torch.Tensor, meta: dict[str, Any], where: str) -> None:
    d = meta["dataset"]
    expected = (d["num_classes"] * meta["ipc"], d["channels"], d["image_size"], d["image_size"])
    if images.dtype != torch.float32 or tuple(images.shape) != expected:
        raise ArtifactError(
            f"{where}: images are {images.dtype} {tuple(images.shape)}, meta says float32 {expected}"
        )
    if labels.dtype != torch.int64 or tuple(labels.shape) != (expected[0],):
        raise ArtifactError(f"{where}: labels are {labels.dtype} {tuple(labels.shape)}, expected int64 ({expected[0]},)")
    counts = torch.bincount(labels.cpu(), minlength=d["num_classes"])
    if len(counts) != d["num_classes"] or bool((counts != meta["ipc"]).any()):
        raise ArtifactError(f"{where}: expected {meta['ipc']} images of each of {d['num_classes']} classes")
