"""The synthetic-set artifact: the one hand-off between distillation and evaluation.

A directory holding `images.safetensors` (images + labels, and soft labels for a set that carries
them), `meta.json` (everything needed to
interpret and reproduce the set) and `grid.png` (one row per class, for eyes). `save_synset`
writes into a temporary sibling directory and renames it into place, so a reader never sees a
half-written artifact; `load_synset` refuses anything missing, truncated or foreign.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from raydd import strict_json
from raydd.atomic import check_can_create
from raydd.core.datasets.labels import label_problem

FORMAT_NAME = "raydd-synset"
FORMAT_VERSION = 1
IMAGES_FILE = "images.safetensors"
META_FILE = "meta.json"
GRID_FILE = "grid.png"
ARTIFACT_FILES = (IMAGES_FILE, META_FILE, GRID_FILE)


class ArtifactError(ValueError):
    """A synthetic-set directory that is missing, incomplete, corrupt or of another format."""


@dataclass(frozen=True, eq=False)
class SyntheticSet:
    """Images float32 [N, C, H, W] (normalised like the dataset), labels int64 [N] (each image's
    class), `meta`, and optionally soft labels float32 [N, classes] (probability rows) that
    students fit under `labels: soft` (raydd.core.evaluate.labels)."""

    images: torch.Tensor
    labels: torch.Tensor
    meta: dict[str, Any]
    soft_labels: torch.Tensor | None = None

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


def check_target(directory: str | os.PathLike) -> Path:
    """`directory` as a place `save_synset` may write, or an `ArtifactError` saying why not.

    It may be new, an empty directory, or an earlier artifact holding only the artifact's own
    files: anything else is the user's, and raydd never replaces what it did not write. Its
    nearest existing ancestor must be a directory this process can create files in. Cheap: the
    CLI calls it before distilling, `save_synset` again before writing.
    """
    target = Path(directory)
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise ArtifactError(f"{target} exists and is not a directory")
        foreign = sorted(p.name for p in target.iterdir() if p.name not in ARTIFACT_FILES)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise ArtifactError(f"{target} holds files that are not a synthetic set's ({shown}); "
                                "choose a new directory or an earlier raydd output")
        if any(target.iterdir()):
            _read_meta(target)  # an earlier artifact says so in its meta.json
    try:
        check_can_create(target)
    except OSError as err:
        raise ArtifactError(str(err)) from None
    return target


def save_synset(synset: SyntheticSet, directory: str | os.PathLike) -> Path:
    """Write the artifact atomically (temp directory next to the target, then rename).

    An existing target is replaced only when `check_target` allows it (empty, or an earlier
    artifact); the earlier artifact's files are removed by name, nothing else.
    """
    _check_consistent(synset.images, synset.labels, synset.meta, "synthetic set", synset.soft_labels)
    meta_text = _strict_json(synset.meta)
    target = check_target(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        _write_files(synset, meta_text, tmp)
        _chmod_like_umask(tmp)
        if target.exists():  # move the earlier artifact aside, swap, then remove its files
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove_artifact(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove_artifact(tmp)
        raise
    return target


def _remove_artifact(directory: Path) -> None:
    """Remove the files an artifact consists of, then the directory if that left it empty."""
    for name in ARTIFACT_FILES:
        (directory / name).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass  # something else is in it: not ours to delete


def _strict_json(meta: dict[str, Any]) -> str:
    """meta.json's text: strict JSON, so a NaN or infinity is an error here, not a bare token."""
    try:
        # No sort_keys: key order carries meaning (the pool's first architecture is its main one).
        return strict_json.dumps(meta, indent=2) + "\n"
    except ValueError:
        bad = [key for key, value in _leaves(meta) if isinstance(value, float) and not math.isfinite(value)]
        raise ArtifactError(f"meta.json would hold non-finite numbers at {', '.join(bad)}") from None


def _leaves(value: Any, place: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{place}.{key}" if place else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{place}[{index}]")
    else:
        yield place, value


def _chmod_like_umask(directory: Path) -> None:
    # mkdtemp makes 0700 directories; an artifact is meant to be read by evaluation workers too.
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


def _write_files(synset: SyntheticSet, meta_text: str, directory: Path) -> None:
    from safetensors.torch import save_file

    tensors = {"images": synset.images.detach().cpu().contiguous(),
               "labels": synset.labels.detach().cpu().contiguous()}
    if synset.soft_labels is not None:
        tensors["soft_labels"] = synset.soft_labels.detach().cpu().to(torch.float32).contiguous()
    save_file(tensors, str(directory / IMAGES_FILE), metadata={"format": FORMAT_NAME})
    (directory / META_FILE).write_text(meta_text)
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
    images, labels, soft = _read_tensors(directory)
    _check_consistent(images, labels, meta, str(directory), soft)
    return SyntheticSet(images, labels, meta, soft)


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.is_file():
        raise ArtifactError(f"{path} is missing")
    try:
        meta = strict_json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
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
    problem = _meta_problem(meta)
    if problem:
        raise ArtifactError(f"{path}: {problem}")
    return meta


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_numbers(value: Any, length: int) -> bool:
    return isinstance(value, list) and len(value) == length and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)


def _meta_problem(meta: dict[str, Any]) -> str | None:
    """What makes a hand-edited meta.json unusable (wrong types, sizes that disagree), or None."""
    d = meta["dataset"]
    if not isinstance(d, dict):
        return f"'dataset' must be an object, got {d!r}"
    if not isinstance(d.get("name"), str):
        return f"dataset.name must be a string, got {d.get('name')!r}"
    for key in ("channels", "image_size", "num_classes"):
        if not _is_count(d.get(key)):
            return f"dataset.{key} must be a positive integer, got {d.get(key)!r}"
    for key in ("mean", "std"):
        if not _is_numbers(d.get(key), d["channels"]):
            return f"dataset.{key} must be {d['channels']} finite number(s), got {d.get(key)!r}"
    names = d.get("class_names")
    if names is not None and not (isinstance(names, list) and len(names) == d["num_classes"]
                                  and all(isinstance(n, str) for n in names)):
        return f"dataset.class_names must be {d['num_classes']} strings, got {names!r}"
    if not _is_count(meta["ipc"]):
        return f"'ipc' must be a positive integer, got {meta['ipc']!r}"
    if not isinstance(meta["method"], str):
        return f"'method' must be a string, got {meta['method']!r}"
    return None


def _read_tensors(directory: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
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
    return tensors["images"], tensors["labels"], tensors.get("soft_labels")


def _check_consistent(images: torch.Tensor, labels: torch.Tensor, meta: dict[str, Any], where: str,
                      soft_labels: torch.Tensor | None = None) -> None:
    d = meta["dataset"]
    expected = (d["num_classes"] * meta["ipc"], d["channels"], d["image_size"], d["image_size"])
    if images.dtype != torch.float32 or tuple(images.shape) != expected:
        raise ArtifactError(
            f"{where}: images are {images.dtype} {tuple(images.shape)}, meta says float32 {expected}"
        )
    if labels.dtype != torch.int64 or tuple(labels.shape) != (expected[0],):
        raise ArtifactError(f"{where}: labels are {labels.dtype} {tuple(labels.shape)}, expected int64 ({expected[0]},)")
    problem = label_problem(labels, d["num_classes"])
    if problem is not None:
        raise ArtifactError(f"{where}: {problem}")
    counts = torch.bincount(labels.cpu(), minlength=d["num_classes"])
    if bool((counts != meta["ipc"]).any()):
        raise ArtifactError(f"{where}: expected {meta['ipc']} images of each of {d['num_classes']} classes")
    if soft_labels is not None:
        from raydd.core.evaluate.labels import check_soft_labels

        try:
            check_soft_labels(soft_labels, expected[0], d["num_classes"], where)
        except ValueError as err:
            raise ArtifactError(str(err)) from None
