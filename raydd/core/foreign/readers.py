"""Readers of the synthetic sets other codes save, into tensors exactly as saved.

- `dc`: the DatasetCondensation code's `res_*.pt`, `{'data': [[image_syn, label_syn], ...],
  'accs_all_exps': {...}}`, one pair per experiment (the DC, DSA and DM scripts all save so);
- `tensors`: a `.pt` dict `{'image_syn': T, 'label_syn': T}`;
- `mtt`: MTT's `images_best.pt` and `labels_best.pt`, in one directory (or `images_X.pt` named,
  with `labels_X.pt` beside it), and the learned learning rate `lr_best.pt` where it is there;
- `dd-ranking`: a directory of `images.pt` (class-ordered, as DD-Ranking's evaluators take them),
  with `labels.pt` (teacher logits, DD-Ranking's soft labels) and `lr.pt` where they are there;
- `image-folder`: one sub-folder per class, PNG or JPEG files, pixels read as they are.

A set exported by raydd (`raydd export`) carries its own description, `raydd-export.json` beside a
directory's files or the `raydd` entry of a `.pt` dict: whether it is normalised and whether it is
ZCA-whitened, which then need no guessing.

`.pt` files are read with `torch.load(weights_only=True)` (`raydd.core.torch_files`): tensors,
lists, dicts and numbers only, so a file can never run code. Checking the tensors against a dataset
is `checks`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from raydd.core.torch_files import RefusedTorchFile, UnreadableTorchFile, load_torch_file

MTT_IMAGES = "images_best.pt"
DD_RANKING_IMAGES = "images.pt"
from raydd.core.export import EXPORT_META  # what `raydd export` writes beside a directory's files
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Formats whose codes can save ZCA-whitened images (MTT's --zca, DD-Ranking's use_zca); the
# DatasetCondensation code (DC, DSA, DM) never whitens, and image files hold pixels.
MAY_BE_WHITENED = ("tensors", "mtt", "dd-ranking")


class ForeignSetError(ValueError):
    """A foreign synthetic set that cannot be read, or does not fit the dataset it is meant for."""


@dataclass(frozen=True, eq=False)
class RawSet:
    """A set as its file holds it: images and labels unchecked, pixels scaled as saved."""

    images: torch.Tensor
    labels: torch.Tensor
    format: str  # dc, tensors, mtt, dd-ranking, image-folder
    name: str  # the file's or folder's name: the set's key in result rows
    experiment: int | None = None  # the chosen experiment of a `dc` file
    experiments: int | None = None  # how many the file holds
    pixels: bool = False  # decoded from image files: pixels in [0, 1] by construction
    own: dict | None = None  # the set's own description (`raydd export` writes one), if it has one
    learned_lr: float | None = None  # a learning rate distilled with the set (MTT's lr_best.pt)
    logits: bool = False  # its float labels are logits (DD-Ranking's soft labels), not probabilities


def read_set(path: Path, info, experiment: int | None = None) -> RawSet:
    """The set at `path`, in whichever of the formats above it is; `experiment` picks one of a
    `dc` file's (default the first). An image folder is read for the dataset `info` describes
    (its class names, image size and channels), the other formats as saved."""
    require_exists(path)
    if experiment is not None and not _is_dc_candidate(path):
        raise ForeignSetError(f"{path}: --experiment chooses among the experiments of a DC-style .pt file")
    if path.is_dir():
        if (path / MTT_IMAGES).exists() or (path / _labels_name(MTT_IMAGES)).exists():
            return _mtt_pair(path / MTT_IMAGES, path.resolve().name)
        if (path / DD_RANKING_IMAGES).exists():
            return _dd_ranking(path, info)
        return _image_folder(path, info)
    if path.name.startswith("images"):
        return _mtt_pair(path, path.resolve().parent.name)
    return _tensor_file(path, experiment)


def require_exists(path: Path) -> None:
    if not path.exists():
        raise ForeignSetError(f"no synthetic set at {path}: not a directory or a file")


def _is_dc_candidate(path: Path) -> bool:
    return path.is_file() and not path.name.startswith("images")


# ---- .pt files ---------------------------------------------------------------------------------
def _numpy_scalars() -> list:
    """What numpy scalars in a file unpickle through (DC stores its accuracies as np.float64):
    the scalar and dtype constructors, under numpy 1's and numpy 2's module names. They build
    numbers from bytes and run nothing else."""
    import numpy as np

    scalar = np._core.multiarray.scalar
    dtypes = [type(np.dtype(name)) for name in ("float64", "float32", "float16", "int64", "int32", "bool")]
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtypes]


def load_pt(path: Path):
    """The objects in a `.pt` file, loaded without running code from it."""
    if not path.is_file():
        raise ForeignSetError(f"{path} is missing")
    try:
        return load_torch_file(path, str(path), allowed=_numpy_scalars())
    except (RefusedTorchFile, UnreadableTorchFile) as exc:
        raise ForeignSetError(str(exc)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ForeignSetError(f"{path} is not a readable torch file: {' '.join(str(exc).split())[:200]}") from None


def _tensor_file(path: Path, experiment: int | None) -> RawSet:
    content = load_pt(path)
    own = _own_entry(content, path)
    if isinstance(content, dict) and "data" in content:
        return replace(_dc_experiment(content["data"], path, experiment), own=own)
    if isinstance(content, dict) and {"image_syn", "label_syn"} <= set(content):
        if experiment not in (None, 0):
            raise ForeignSetError(f"{path} holds one set, not a list of experiments; drop --experiment")
        return RawSet(_tensor(content["image_syn"], path, "image_syn"), _tensor(content["label_syn"], path, "label_syn"),
                      "tensors", path.name, own=own)
    found = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
    raise ForeignSetError(f"{path} is not a synthetic set raydd reads: it holds {found}, not DC's "
                          "{'data': [[image_syn, label_syn], ...]} nor {'image_syn', 'label_syn'}")


def _dc_experiment(data, path: Path, experiment: int | None) -> RawSet:
    """One experiment's [image_syn, label_syn] of DC's `data` list."""
    if not isinstance(data, (list, tuple)) or not data:
        raise ForeignSetError(f"{path}: 'data' should be a non-empty list of [image_syn, label_syn], "
                              f"got {type(data).__name__}")
    chosen = 0 if experiment is None else experiment
    if not 0 <= chosen < len(data):
        raise ForeignSetError(f"{path} holds {len(data)} experiment(s), 0..{len(data) - 1}; "
                              f"--experiment {chosen} is not one of them")
    pair = data[chosen]
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise ForeignSetError(f"{path}: experiment {chosen} is not an [image_syn, label_syn] pair")
    name = path.name if len(data) == 1 else f"{path.name}-exp{chosen}"
    return RawSet(_tensor(pair[0], path, "image_syn"), _tensor(pair[1], path, "label_syn"), "dc", name,
                  chosen, len(data))


def _labels_name(images_name: str) -> str:
    return "labels" + images_name[len("images"):]


def _mtt_pair(images_path: Path, name: str) -> RawSet:
    labels_path = images_path.with_name(_labels_name(images_path.name))
    for path in (images_path, labels_path):
        if not path.is_file():
            raise ForeignSetError(f"{path} is missing: an MTT-style set is {images_path.name} with "
                                  f"{labels_path.name} beside it")
    images, labels = load_pt(images_path), load_pt(labels_path)
    lr_path = images_path.with_name("lr" + images_path.name[len("images"):])
    return RawSet(_tensor(images, images_path, "images"), _tensor(labels, labels_path, "labels"), "mtt", name,
                  own=_own_file(images_path.parent), learned_lr=_learned_lr(lr_path))


def _dd_ranking(directory: Path, info) -> RawSet:
    """DD-Ranking's inputs: class-ordered images (its evaluators build the hard labels from that
    order), soft labels as a teacher's logits when `labels.pt` is there, `lr.pt` when learned."""
    images = _tensor(load_pt(directory / DD_RANKING_IMAGES), directory / DD_RANKING_IMAGES, "images")
    if len(images) % info.num_classes:
        raise ForeignSetError(f"{directory / DD_RANKING_IMAGES}: {len(images)} images do not split into "
                              f"{info.num_classes} classes of equal size (DD-Ranking orders them by class)")
    ipc = len(images) // info.num_classes
    labels, logits = torch.arange(info.num_classes).repeat_interleave(ipc), False
    if (directory / "labels.pt").is_file():
        given = _tensor(load_pt(directory / "labels.pt"), directory / "labels.pt", "labels")
        labels, logits = (given, True) if given.is_floating_point() and given.ndim == 2 else (given, False)
    return RawSet(images, labels, "dd-ranking", directory.resolve().name, own=_own_file(directory),
                  learned_lr=_learned_lr(directory / "lr.pt"), logits=logits)


def _learned_lr(path: Path) -> float | None:
    if not path.is_file():
        return None
    value = load_pt(path)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ForeignSetError(f"{path}: a learned learning rate is one positive number, got {value!r}")
    return float(value)


def _own_file(directory: Path) -> dict | None:
    """`raydd-export.json` beside a directory's files, read strictly."""
    path = directory / EXPORT_META
    if not path.is_file():
        return None
    from raydd import strict_json

    try:
        own = strict_json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ForeignSetError(f"{path} is not valid JSON: {exc}") from None
    return _checked_own(own, path)


def _own_entry(content, path: Path) -> dict | None:
    if not isinstance(content, dict) or "raydd" not in content:
        return None
    return _checked_own(content["raydd"], path)


def _checked_own(own, where: Path) -> dict:
    if not isinstance(own, dict) or not isinstance(own.get("normalized"), bool) or not isinstance(own.get("zca"), bool):
        raise ForeignSetError(f"{where}: raydd's description of the set must say normalized and zca as true or "
                              f"false, got {own!r}")
    return own


def _tensor(value, path: Path, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ForeignSetError(f"{path}: {what} is a {type(value).__name__}, not a tensor")
    return value.detach().cpu()


# ---- image folders -----------------------------------------------------------------------------
def _image_folder(path: Path, info) -> RawSet:
    class_names = info.class_names
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ForeignSetError(f"{path} is neither a raydd set (meta.json), an MTT-style pair ({MTT_IMAGES}, "
                              f"{_labels_name(MTT_IMAGES)}), DD-Ranking's {DD_RANKING_IMAGES} nor an image folder "
                              "(one sub-folder per class)")
    if len(folders) != len(class_names):
        raise ForeignSetError(f"{path} has {len(folders)} class folder(s); {info.name} has {len(class_names)} classes")
    images, labels = [], []
    for label, folder in sorted((_folder_label(f, class_names), f) for f in folders):
        files = _image_files(folder)
        images += [_read_image(f, info) for f in files]
        labels += [label] * len(files)
    return RawSet(torch.stack(images), torch.tensor(labels, dtype=torch.int64), "image-folder", path.resolve().name,
                  pixels=True, own=_own_file(path))


def _folder_label(folder: Path, class_names: tuple[str, ...]) -> int:
    """A class folder's label: the dataset's class name it is, or the index it spells."""
    if folder.name in class_names:
        return class_names.index(folder.name)
    if folder.name.isdigit() and int(folder.name) < len(class_names):
        return int(folder.name)
    shown = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
    raise ForeignSetError(f"{folder}: folder name {folder.name!r} is neither a class name ({shown}) nor a class "
                          f"index 0..{len(class_names) - 1}")


def _image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    others = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise ForeignSetError(f"{folder} holds files that are not PNG or JPEG images ({', '.join(others[:3])})")
    if not files:
        raise ForeignSetError(f"{folder} holds no images")
    return files


def _read_image(path: Path, info) -> torch.Tensor:
    """float32 [C, H, W] pixels in [0, 1], C the dataset's channels. A greyscale dataset also
    takes colour files whose three channels are equal (torchvision's save_image writes those)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.size != (info.image_size, info.image_size):
                raise ForeignSetError(f"{path} is {image.size[0]}x{image.size[1]} pixels; {info.name} images are "
                                      f"{info.image_size}x{info.image_size} (raydd does not resize)")
            pixels = _opaque(image, path)
    except (UnidentifiedImageError, OSError) as exc:
        raise ForeignSetError(f"{path} is not a readable image: {exc}") from None
    tensor = torch.from_numpy(pixels).to(torch.float32).div_(255.0)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()
    if info.channels == 1 and len(tensor) == 3 and bool((tensor[1:] == tensor[:1]).all()):
        tensor = tensor[:1]
    if len(tensor) != info.channels:
        kind = "greyscale" if info.channels == 1 else "RGB"
        raise ForeignSetError(f"{path} has {len(tensor)} channel(s); {info.name} images are {kind}")
    return tensor


def _opaque(image, path: Path):
    """The image's 8-bit L or RGB pixels as a numpy array; a transparent pixel is refused rather
    than guessed at."""
    import numpy as np

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if (alpha != 255).any():
            raise ForeignSetError(f"{path} has transparent pixels; save it without an alpha channel")
    if image.mode not in ("L", "RGB", "RGBA", "LA", "P", "PA"):
        raise ForeignSetError(f"{path}: image mode {image.mode} (raydd reads 8-bit greyscale or RGB files)")
    return np.array(image.convert("L" if image.mode in ("L", "LA") else "RGB"))
