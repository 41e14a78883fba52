"""Readers of the synthetic sets other codes save, into tensors exactly as saved.

- `dc`: the DatasetCondensation code's `res_*.pt`, `{'data': [[image_syn, label_syn], ...],
  'accs_all_exps': {...}}`, one pair per experiment (the DC, DSA and DM scripts all save so);
- `tensors`: a `.pt` dict `{'image_syn': T, 'label_syn': T}`;
- `mtt`: MTT's `images_best.pt` and `labels_best.pt`, in one directory (or `images_X.pt` named,
  with `labels_X.pt` beside it);
- `image-folder`: one sub-folder per class, PNG or JPEG files, pixels read as they are.

`.pt` files are read with `torch.load(weights_only=True)` (`raydd.core.torch_files`): tensors,
lists, dicts and numbers only, so a file can never run code. Checking the tensors against a dataset is `checks`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from raydd.core.torch_files import RefusedTorchFile, UnreadableTorchFile, load_torch_file

MTT_IMAGES = "images_best.pt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ForeignSetError(ValueError):
    """A foreign synthetic set that cannot be read, or does not fit the dataset it is meant for."""


@dataclass(frozen=True, eq=False)
class RawSet:
    """A set as its file holds it: images and labels unchecked, pixels scaled as saved."""

    images: torch.Tensor
    labels: torch.Tensor
    format: str  # dc, tensors, mtt, image-folder
    name: str  # the file's or folder's name: the set's key in result rows
    experiment: int | None = None  # the chosen experiment of a `dc` file
    experiments: int | None = None  # how many the file holds
    pixels: bool = False  # decoded from image files: pixels in [0, 1] by construction


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
    if isinstance(content, dict) and "data" in content:
        return _dc_experiment(content["data"], path, experiment)
    if isinstance(content, dict) and {"image_syn", "label_syn"} <= set(content):
        if experiment not in (None, 0):
            raise ForeignSetError(f"{path} holds one set, not a list of experiments; drop --experiment")
        return RawSet(_tensor(content["image_syn"], path, "image_syn"), _tensor(content["label_syn"], path, "label_syn"),
                      "tensors", path.name)
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
    return RawSet(_tensor(images, images_path, "images"), _tensor(labels, labels_path, "labels"), "mtt", name)


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
                              f"{_labels_name(MTT_IMAGES)}) nor an image folder (one sub-folder per class)")
    if len(folders) != len(class_names):
        raise ForeignSetError(f"{path} has {len(folders)} class folder(s); {info.name} has {len(class_names)} classes")
    images, labels = [], []
    for label, folder in sorted((_folder_label(f, class_names), f) for f in folders):
        files = _image_files(folder)
        images += [_read_image(f, info) for f in files]
        labels += [label] * len(files)
    return RawSet(torch.stack(images), torch.tensor(labels, dtype=torch.int64), "image-folder", path.resolve().name,
                  pixels=True)


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
