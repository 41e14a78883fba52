"""Fashion-MNIST from the operating system (Debian package `dataset-fashion-mnist`), read offline.

The package ships the real gzipped idx files. torchvision's FashionMNIST reads *uncompressed* files
from `<root>/FashionMNIST/raw/` (it checks their existence by name, then parses them), so they are
unpacked once into raydd's cache in that layout and torchvision reads them from there.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from raydd.atomic import atomic_write

# Where the Debian package installs the files; RAYDD_FASHION_MNIST_DIR points elsewhere.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def cache_dir() -> Path:
    """raydd's cache: $RAYDD_CACHE_DIR, else $XDG_CACHE_HOME/raydd, else ~/.cache/raydd."""
    if os.environ.get("RAYDD_CACHE_DIR"):
        return Path(os.environ["RAYDD_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "raydd"


def fashion_mnist_system_dir() -> Path:
    return Path(os.environ.get("RAYDD_FASHION_MNIST_DIR") or DEBIAN_FASHION_MNIST_DIR)


def fashion_mnist_root() -> Path | None:
    """A torchvision root holding FashionMNIST/raw/ unpacked from the system files; None if absent."""
    system_dir = fashion_mnist_system_dir()
    packed = [system_dir / f"{name}.gz" for name in RAW_FILES]
    if not all(path.is_file() for path in packed):
        return None
    root = cache_dir() / "system-fashion-mnist"
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for source in packed:
        _gunzip_once(source, raw / source.stem)
    return root


def _gunzip_once(source: Path, target: Path) -> None:
    """Unpack `source` to `target` unless an up-to-date copy is there.

    Written to a temporary file and renamed, so concurrent trials on one machine never read a
    half-written file.
    """
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return
    with atomic_write(target) as out, gzip.open(source, "rb") as packed:
        shutil.copyfileobj(packed, out, length=1 << 20)
