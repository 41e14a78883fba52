"""Files a user names with --out: raydd replaces one only when it wrote it (or under --force), and
writes every one atomically, so a failed write leaves the earlier file as it was.

Each format says how raydd knows its own: a mark it writes into the file (a page's generator
tag, an image's Software/Creator metadata, a Parquet file's schema metadata). A format with no
place for a mark (CSV) is never taken for raydd's: an existing file needs --force.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Optional

from raydd.atomic import atomic_write

FORCE_HINT = "choose another --out, or pass --force to replace it"
IMAGE_MARK = "raydd"  # an image's Software (PNG) or Creator (SVG, PDF) metadata
PARQUET_MARK = b"raydd.written_by"  # a Parquet file's schema metadata key
MARK_WINDOW = 65536  # bytes read from each end of a file: PNG and SVG marks lead it, PDF's trails it
# how each image format carries IMAGE_MARK, as matplotlib's savefig(metadata=...) writes it
_IMAGE_METADATA = {".png": "Software", ".svg": "Creator", ".pdf": "Creator"}
_IMAGE_PATTERNS = {".png": b"tEXtSoftware\x00" + IMAGE_MARK.encode(),
                   ".svg": b"<dc:title>" + IMAGE_MARK.encode() + b"</dc:title>",
                   ".pdf": b"/Creator (" + IMAGE_MARK.encode() + b")"}

Recogniser = Callable[[Path], bool]


def check_replaceable(out: str | os.PathLike, is_own: Optional[Recogniser], what: str, force: bool = False) -> None:
    """Refuse (FileExistsError, one line) to replace an existing `out` that `is_own` does not
    recognise as raydd's, unless `force`. `is_own` None: the format carries no mark, so any
    existing file is refused. `what` names the kind of file ("an image")."""
    out = Path(out)
    if force or not (out.exists() or out.is_symlink()) or out.is_dir():
        return  # a directory is no file to replace: the caller's file check says so
    if is_own is None:
        raise FileExistsError(f"{out} exists and raydd cannot tell whether it wrote it ({what} carries no "
                              f"mark); {FORCE_HINT}")
    if not (out.is_file() and is_own(out)):
        raise FileExistsError(f"{out} exists and is not {what} raydd wrote; {FORCE_HINT}")


def write_output(out: str | os.PathLike, write: Callable[[object], None]) -> Path:
    """Call `write(handle)` on a temporary file beside `out`, renamed over it only when the whole
    write succeeded: a failure leaves any earlier `out` byte for byte."""
    out = Path(out)
    with atomic_write(out) as handle:
        write(handle)
    return out


def write_directory(out: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Call `fill(directory)` on a hidden temporary directory beside `out`, then put it in `out`'s
    place. An earlier `out` (which the caller found replaceable) is moved aside and removed only
    once the new one is in place: a failure before that leaves it as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        fill(temporary)
        temporary.chmod(0o777 & ~_umask())  # mkdtemp makes it private; an export is shared like any directory
        _swap_in(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)  # our own temporary directory only
        raise
    return out


def _swap_in(new: Path, out: Path) -> None:
    if not out.is_symlink() and (not out.exists() or (out.is_dir() and not any(out.iterdir()))):
        os.replace(new, out)  # onto nothing or an empty directory: one rename
        return
    earlier = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(out, earlier)
    try:
        os.replace(new, out)
    except BaseException:
        os.rename(earlier, out)
        raise
    if earlier.is_symlink():
        earlier.unlink()  # the link only, never what it points to
    else:
        shutil.rmtree(earlier, ignore_errors=True)  # the new one is in place; a leftover is hidden


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _ends(path: Path) -> bytes:
    """The first and last MARK_WINDOW bytes of `path` (all of it when it is short)."""
    with path.open("rb") as handle:
        head = handle.read(MARK_WINDOW)
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(MARK_WINDOW, size - MARK_WINDOW))
        return head + handle.read()


def image_metadata(out: str | os.PathLike) -> dict:
    """The savefig metadata that marks an image (.png, .svg, .pdf) as raydd's."""
    return {_IMAGE_METADATA[Path(out).suffix.lower()]: IMAGE_MARK}


def is_raydd_image(path: Path) -> bool:
    pattern = _IMAGE_PATTERNS.get(path.suffix.lower())
    return pattern is not None and pattern in _ends(path)


def _parquet_metadata(path: Path) -> dict:
    """The schema metadata of a Parquet file; empty for a file pyarrow cannot read as Parquet."""
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return {}


def is_raydd_parquet(path: Path) -> bool:
    return PARQUET_MARK in _parquet_metadata(path)


def is_result_rows(path: Path) -> bool:
    """A file of raydd result rows: Parquet whose schema metadata is RESULT_SCHEMA's."""
    from raydd.results.schema import RESULT_SCHEMA

    own = set(RESULT_SCHEMA.metadata)
    return path.suffix == ".parquet" and path.is_file() and own <= set(_parquet_metadata(path))
