"""A raydd set in the layouts other codes read (`raydd export`), so that it can be evaluated there,
and read back here (`raydd.core.foreign`) as the same tensors.

Every layout holds the images normalised with the dataset's mean and std, as the DatasetCondensation,
MTT and DD-Ranking codes train on them, ordered by class (DD-Ranking builds its hard labels from
that order), and says what it is: `raydd-export.json` beside a directory's files, or a `raydd`
entry in a `.pt` dict (which the other codes do not read), so that reading it back needs no guess.

- `dc`: `res_<METHOD>_<DATASET>_<MODEL>_<ipc>ipc.pt`, `{'data': [[image_syn, label_syn]],
  'accs_all_exps': {MODEL: []}}`, as DatasetCondensation's main.py saves (MODEL: the pool's main
  architecture); hard labels only.
- `mtt`: `images_best.pt`, `labels_best.pt` (class indices, or probability rows for soft labels),
  and `lr_best.pt` where the set has a learned learning rate, as MTT's distill.py saves. A set of
  `raydd distill --method mtt` from ZCA experts keeps its whitened images, and its description says
  `zca: true`; the image folder refuses it.
- `dd-ranking`: `images.pt`, `labels.pt` for soft labels only (as logits: the log-probabilities,
  whose softmax DD-Ranking's soft cross-entropy takes at T = 1), `lr.pt` where learned.
- `image-folder`: one sub-folder per class named by its zero-padded index (class names such as
  Fashion-MNIST's `T-shirt/top` are not file names; the padding keeps torchvision's ImageFolder,
  which sorts folder names, in class order), 8-bit PNGs of the de-normalised pixels; hard labels only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from raydd import strict_json
from raydd.core.export_out import EXPORT_META, ExportError, check_out
from raydd.outputs import write_directory
from raydd.registry import Registry

EXPORTERS: Registry[Callable] = Registry("export format")
DC_DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "svhn": "SVHN", "cifar10": "CIFAR10",
                    "cifar100": "CIFAR100"}  # how DatasetCondensation spells them in its file names


def _ordered(synset):
    """Images, labels and soft labels (or None) ordered by class, each class in its own order."""
    order = torch.argsort(synset.labels.cpu(), stable=True)
    soft = None if synset.soft_labels is None else synset.soft_labels.cpu()[order].contiguous()
    return synset.images.cpu()[order].contiguous(), synset.labels.cpu()[order].contiguous(), soft


def _own(synset, normalized: bool) -> dict:
    from raydd import __version__

    meta = synset.meta
    return {"format": "raydd-export", "dataset": meta["dataset"]["name"], "ipc": synset.ipc, "method": meta["method"],
            "normalized": normalized, "zca": _whitened(synset), "raydd_version": __version__}


def _whitened(synset) -> bool:
    """An MTT set distilled from ZCA experts holds whitened images (its meta's `zca` record)."""
    return synset.meta.get("zca") is not None


def learned_lr(synset) -> float | None:
    """A learning rate distilled with the set: an MTT set's own, or one a foreign set carried."""
    own = synset.meta.get("learned_lr")
    return own if own is not None else (synset.meta.get("foreign") or {}).get("learned_lr")


def _hard_only(synset, fmt: str) -> None:
    if synset.soft_labels is not None:
        raise ExportError(f"the {fmt} layout carries class labels only; this set's soft labels would be lost "
                          "(export it as mtt or dd-ranking)")


@EXPORTERS.register("dc")
def write_dc(synset, directory: Path) -> None:
    _hard_only(synset, "dc")
    images, labels, _ = _ordered(synset)
    meta = synset.meta
    model = next(iter((meta.get("pool") or {}).get("archs") or {}), "ConvNet")  # the pool's main architecture
    dataset = DC_DATASET_NAMES.get(meta["dataset"]["name"], meta["dataset"]["name"])
    name = f"res_{meta['method'].upper()}_{dataset}_{model}_{synset.ipc}ipc.pt"
    torch.save({"data": [[images, labels]], "accs_all_exps": {model: []}, "raydd": _own(synset, True)},
               directory / name)


@EXPORTERS.register("mtt")
def write_mtt(synset, directory: Path) -> None:
    images, labels, soft = _ordered(synset)
    torch.save(images, directory / "images_best.pt")
    torch.save(labels if soft is None else soft, directory / "labels_best.pt")
    if learned_lr(synset) is not None:
        torch.save(torch.tensor(learned_lr(synset)), directory / "lr_best.pt")
    (directory / EXPORT_META).write_text(strict_json.dumps(_own(synset, True), indent=2) + "\n")


@EXPORTERS.register("dd-ranking")
def write_dd_ranking(synset, directory: Path) -> None:
    images, _, soft = _ordered(synset)
    torch.save(images, directory / "images.pt")
    if soft is not None:
        torch.save(soft.clamp_min(torch.finfo(torch.float32).tiny).log(), directory / "labels.pt")
    if learned_lr(synset) is not None:
        torch.save(torch.tensor(learned_lr(synset)), directory / "lr.pt")
    (directory / EXPORT_META).write_text(strict_json.dumps(_own(synset, True), indent=2) + "\n")


@EXPORTERS.register("image-folder")
def write_image_folder(synset, directory: Path) -> None:
    from PIL import Image

    from raydd.core.datasets import denormalize
    from raydd.core.datasets.types import DatasetInfo

    _hard_only(synset, "image-folder")
    if _whitened(synset):
        raise ExportError("this set is ZCA-whitened: its images are no pixels an image file can hold "
                          "(export it as mtt, dd-ranking or dc, which keep the tensors and say they are whitened)")
    images, labels, _ = _ordered(synset)
    d = synset.meta["dataset"]
    info = DatasetInfo(d["name"], d["channels"], d["image_size"], d["num_classes"], tuple(d["mean"]), tuple(d["std"]),
                       tuple(d.get("class_names") or [str(c) for c in range(d["num_classes"])]))
    pixels = (denormalize(images.clone(), info).clamp(0, 1) * 255).round().to(torch.uint8)
    width = len(str(info.num_classes - 1))
    for index, (image, label) in enumerate(zip(pixels, labels.tolist())):
        folder = directory / f"{label:0{width}d}"
        folder.mkdir(exist_ok=True)
        array = image[0].numpy() if info.channels == 1 else image.permute(1, 2, 0).numpy()
        Image.fromarray(array, mode="L" if info.channels == 1 else "RGB").save(folder / f"{index:05d}.png")
    (directory / EXPORT_META).write_text(strict_json.dumps(_own(synset, False), indent=2) + "\n")


def clipped_share(synset) -> float:
    """The share of pixels an image-folder export clips: de-normalised values outside [0, 1]
    (distillation moves pixels there; image files cannot hold them)."""
    d = synset.meta["dataset"]
    mean, std = (torch.tensor(d[key], dtype=torch.float32).view(1, -1, 1, 1) for key in ("mean", "std"))
    pixels = synset.images.detach().cpu() * std + mean
    return float(((pixels < 0) | (pixels > 1)).float().mean())


def export_set(synset, fmt: str, out: str | os.PathLike, force: bool = False) -> list[Path]:
    """Write `synset` in layout `fmt` into `out` (new, empty, an export raydd wrote, or anything
    under `force`: `raydd.core.export_out.check_out`), atomically: a hidden sibling directory
    put in its place only once whole. Returns the files written."""
    write = EXPORTERS.get(fmt)
    out = check_out(Path(out), force)
    write_directory(out, lambda directory: write(synset, directory))
    return sorted(p for p in out.rglob("*") if p.is_file())
