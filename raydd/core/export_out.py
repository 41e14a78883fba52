"""Where `raydd export` may write: a new or empty directory, or one that holds an export raydd
wrote and nothing else (replaced whole); any other directory only under --force (`raydd.outputs`)."""

from __future__ import annotations

import re
from pathlib import Path

from raydd.outputs import FORCE_HINT

EXPORT_META = "raydd-export.json"  # an export's description; raydd.core.foreign.readers reads it back

# every file a layout writes, as a path inside the export (raydd.core.export's writers)
LAYOUT_FILES = re.compile(r"(images|labels|lr)(_best)?\.pt|\d+/\d+\.png|" + re.escape(EXPORT_META))
DC_FILE = re.compile(r"res_\w+_\d+ipc\.pt")
SHOWN = 3  # files named in a refusal


class ExportError(ValueError):
    """A set that cannot be written in the asked layout, or a place it may not be written to."""


def check_out(out: Path, force: bool = False) -> Path:
    """`out` as a directory `raydd export` may write to, or an ExportError saying why not; checked
    before the set is read."""
    from raydd.atomic import check_can_create

    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ExportError(f"--out {out} exists and is not a directory")
        found = _files(out)
        if found and not force and not is_raydd_export(out):
            found = [f for f in found if not _layout_file(f)] or found  # the strangers first, if any
            more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            raise ExportError(f"--out {out} holds files that are not an export raydd wrote "
                              f"({', '.join(found[:SHOWN])}{more}); {FORCE_HINT}")
    try:
        check_can_create(out)
    except OSError as err:
        raise ExportError(str(err)) from None
    return out


def _files(directory: Path) -> list[str]:
    """Everything under `directory` but its sub-directories, as paths inside it."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if not p.is_dir())


def _layout_file(name: str) -> bool:
    return bool(LAYOUT_FILES.fullmatch(name) or DC_FILE.fullmatch(name))


def is_raydd_export(directory: Path) -> bool:
    """A directory that `raydd export` wrote and nothing else did: its description (raydd-export.json,
    or a dc file's `raydd` entry) and only files a layout writes."""
    files = _files(directory)
    if len(files) == 1 and DC_FILE.fullmatch(files[0]):
        return _describes(_pt_entry(directory / files[0]))
    if EXPORT_META not in files or not all(LAYOUT_FILES.fullmatch(f) for f in files):
        return False
    from raydd import strict_json

    try:
        return _describes(strict_json.loads((directory / EXPORT_META).read_text()))
    except (ValueError, UnicodeDecodeError, OSError):
        return False


def _pt_entry(path: Path):
    """The `raydd` entry of a dc file; None for a file that holds none or is no readable torch file."""
    from raydd.core.torch_files import load_torch_file

    try:
        content = load_torch_file(path, str(path))
    except (RuntimeError, EOFError, OSError, ValueError):  # a refused or unreadable file is a ValueError
        return None
    return content.get("raydd") if isinstance(content, dict) else None


def _describes(own) -> bool:
    return isinstance(own, dict) and own.get("format") == "raydd-export"
