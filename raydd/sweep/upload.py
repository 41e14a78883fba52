"""What `raydd sweep submit --address` sends to a cluster: the working directory, packed here.

raydd packs the directory itself, rather than letting Ray walk it, so that it can say exactly what
leaves the machine before anything is sent, and so that secrets and bulk stay behind by default.
Left out: `DEFAULT_EXCLUDES`, the patterns of every `.gitignore` and `.rayignore` met on the way
(git's own matching rules, as Ray applies them), and links that point outside the directory.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pathspec

DEFAULT_EXCLUDES = (
    # secrets: environment files, keys, cloud and SSH credentials, Ray's own auth token
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    ".ssh/", ".aws/", ".gcloud/", ".netrc", ".git-credentials", ".ray/", "auth_token",
    # bulk and local state: history, environments, caches anywhere; results and data at the top
    # (anchored: a package folder such as raydd/core/datasets/ must still go)
    ".git", ".venv/", "venv/", "__pycache__/", "*.egg-info/", ".pytest_cache/", ".mypy_cache/",
    ".ruff_cache/", "/runs/", "/data/", "/datasets/",
)
IGNORE_FILES = (".gitignore", ".rayignore")
# A sweep needs code and sweep files, not data: a package this large means data or results were
# picked up. (Ray's own limit on a package is 512 MiB.)
MAX_UPLOAD_BYTES = 100 * 1024**2


class UploadError(ValueError):
    """The working directory cannot be sent as it is."""


@dataclass(frozen=True)
class Package:
    """A zip of the files to send, and what is in it."""

    path: str
    directory: str
    files: tuple[str, ...]  # relative paths, sorted
    size: int  # bytes before compression
    zip_size: int

    def describe(self) -> str:
        mib = 1024**2
        return (f"uploading {len(self.files)} file(s) from {self.directory}: {self.size / mib:.2f} MiB "
                f"({self.zip_size / mib:.2f} MiB zipped); secrets, .git, .venv, runs and data stay "
                f"behind (add patterns to .rayignore to leave out more)")


def _ignore_specs(directory: Path, specs: list[tuple[Path, pathspec.PathSpec]]) -> list:
    """`specs` plus the ignore files found in `directory`, each matched relative to its own folder."""
    found = []
    for name in IGNORE_FILES:
        ignore = directory / name
        if ignore.is_file():
            found.append((directory, pathspec.GitIgnoreSpec.from_lines(ignore.read_text().splitlines())))
    return specs + found


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, pathspec.PathSpec]]) -> bool:
    for base, spec in specs:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(relative):
            return True
    return False


def _outside(path: Path, root: Path) -> bool:
    """A link whose target lies outside `root` (it could expose anything on this machine)."""
    return path.is_symlink() and not path.resolve().is_relative_to(root)


def files_to_upload(directory: str | os.PathLike) -> list[str]:
    """Relative paths of the files `pack` would send, sorted."""
    root = Path(directory).resolve()
    defaults = [(root, pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES))]
    chosen: list[str] = []

    def walk(folder: Path, specs: list) -> None:
        specs = _ignore_specs(folder, specs)
        for entry in sorted(folder.iterdir()):
            is_dir = entry.is_dir() and not entry.is_symlink()
            if _ignored(entry, is_dir, specs) or _outside(entry, root):
                continue
            if is_dir:
                walk(entry, specs)
            elif entry.is_file():
                chosen.append(entry.relative_to(root).as_posix())

    walk(root, defaults)
    return chosen


def pack(directory: str | os.PathLike, out_dir: str | os.PathLike) -> Package:
    """Zip the files to send into `out_dir`; UploadError when they exceed MAX_UPLOAD_BYTES."""
    root = Path(directory).resolve()
    files = files_to_upload(root)
    size = sum((root / f).stat().st_size for f in files)
    if size > MAX_UPLOAD_BYTES:
        largest = sorted(files, key=lambda f: (root / f).stat().st_size, reverse=True)[:3]
        raise UploadError(
            f"{root} holds {size / 1024**2:.0f} MiB to upload (limit {MAX_UPLOAD_BYTES // 1024**2} MiB), "
            f"largest: {', '.join(largest)}; add them to .rayignore or submit from a smaller directory")
    target = Path(out_dir) / "working_dir.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            archive.write(root / name, name)
    return Package(str(target), str(root), tuple(files), size, target.stat().st_size)
