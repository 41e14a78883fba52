"""The expert store: each expert in its own directory under a content-addressed key.

    <root>/<dataset>/<arch>/<key>/trajectory.safetensors   the parameters [epochs + 1, numel]
    <root>/<dataset>/<arch>/<key>/manifest.json             identity, layout, size and SHA-256

`key` is `ExpertIdentity.key`: the hash of the dataset (and its validation carve), architecture,
settings and seed. An expert is written into a hidden temporary sibling and renamed into place, so
a reader sees all of it or nothing. `ensure` reuses a complete expert, trains a missing one, and
retrains one whose file no longer matches its manifest (truncated, damaged); it refuses, in one
line and touching nothing, a directory that holds anything else: an expert of another dataset,
architecture or setting, a foreign file, another program's manifest. Only the store's own two
files are ever removed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from raydd import strict_json
from raydd.atomic import check_can_create
from raydd.core.experts.params import ParamLayout, check_unrollable
from raydd.core.experts.settings import ExpertIdentity
from raydd.core.experts.train import Trajectory, train_expert

FORMAT_NAME = "raydd-expert"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TRAJECTORY = "trajectory.safetensors"
EXPERT_FILES = (MANIFEST, TRAJECTORY)
MISSING = "missing"


class ExpertError(ValueError):
    """An expert directory that raydd will not use or replace: foreign, or another expert's."""


@dataclass(frozen=True)
class ExpertOutcome:
    """What `ensure` did: `reused` a complete expert, `trained` a missing one, or `retrained` a
    damaged one (`reason` says what was wrong)."""

    identity: ExpertIdentity
    path: Path
    status: str
    reason: str | None = None
    train_seconds: float = 0.0

    @property
    def words(self) -> str:
        """What was done, for a progress line: `trained in 3.1 s`."""
        return {"reused": "complete, kept", "trained": f"trained in {self.train_seconds:.1f} s",
                "retrained": f"retrained in {self.train_seconds:.1f} s ({self.reason})"}[self.status]


class ExpertStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def directory(self, identity: ExpertIdentity) -> Path:
        return self.root / identity.dataset / identity.arch / identity.key

    def problem(self, identity: ExpertIdentity) -> str | None:
        """None when the expert is complete and sound; else why it must be (re)trained. Raises
        `ExpertError` for a directory that is not this expert's to replace."""
        return _problem(self.directory(identity), identity)

    def load(self, identity: ExpertIdentity) -> Trajectory:
        """The stored trajectory, checked against its manifest; `ExpertError` when it cannot be used."""
        directory = self.directory(identity)
        problem = self.problem(identity)
        if problem:
            raise ExpertError(f"expert {identity.label} at {directory} is {problem}")
        return _read_trajectory(directory, _read_manifest(directory))

    def ensure(self, identity: ExpertIdentity, data: Any, device: str | torch.device = "cpu",
               zca: Any = None) -> ExpertOutcome:
        """Make sure the expert exists and is sound, training it when it does not or is not."""
        _check_fits(identity, data)
        check_unrollable(identity.arch, identity.channels, identity.num_classes, identity.image_size)
        problem = self.problem(identity)  # before any training: a foreign directory fails now
        if problem is None:
            return ExpertOutcome(identity, self.directory(identity), "reused")
        check_can_create(self.directory(identity))
        trajectory, seconds = train_expert(identity.arch, data, identity.settings, identity.seed, device, zca)
        path = self.write(identity, trajectory, seconds)
        status = "trained" if problem == MISSING else "retrained"
        return ExpertOutcome(identity, path, status, None if problem == MISSING else problem, seconds)

    def write(self, identity: ExpertIdentity, trajectory: Trajectory, train_seconds: float = 0.0) -> Path:
        """Store `trajectory` as `identity`'s expert, atomically; replaces only a damaged expert."""
        if trajectory.arch != identity.arch or trajectory.epochs != identity.settings.epochs:
            raise ValueError(f"a {trajectory.epochs}-epoch {trajectory.arch} trajectory is not expert "
                             f"{identity.label} ({identity.settings.epochs} epochs)")
        target = self.directory(identity)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            _write_files(temporary, identity, trajectory, train_seconds)
            _move_into_place(temporary, target, identity)
        finally:
            _remove_expert_files(temporary)
        return target


def load_expert(directory: str | os.PathLike, *, dataset: str, arch: str) -> Trajectory:
    """The expert stored in `directory`, which must be one of `dataset` and `arch`; every defect
    (missing, truncated, damaged, another dataset's or architecture's) is one `ExpertError` line."""
    directory = Path(directory)
    manifest = _read_manifest(directory)
    if manifest is None:
        raise ExpertError(f"{directory} holds no readable expert manifest ({MANIFEST})")
    found = manifest["identity"]
    if (found.get("dataset"), found.get("arch")) != (dataset, arch):
        raise ExpertError(f"{directory} holds an expert of {found.get('dataset')}/{found.get('arch')}, "
                          f"not of {dataset}/{arch}")
    damage = _file_damage(directory, manifest)
    if damage:
        raise ExpertError(f"{directory}: {damage}")
    return _read_trajectory(directory, manifest)


# ---- checks -------------------------------------------------------------------------------------
def _check_fits(identity: ExpertIdentity, data: Any) -> None:
    carve = (data.info.name, data.val_size, data.split_seed)
    if carve != (identity.dataset, identity.val_size, identity.split_seed):
        raise ValueError(f"expert {identity.label} is of {identity.dataset} (val_size {identity.val_size}, "
                         f"split_seed {identity.split_seed}); the data given is {carve[0]} "
                         f"(val_size {carve[1]}, split_seed {carve[2]})")


def _problem(directory: Path, identity: ExpertIdentity) -> str | None:
    if not directory.exists() and not directory.is_symlink():
        return MISSING
    if not directory.is_dir():
        raise ExpertError(f"{directory} is not a directory; raydd leaves it alone")
    foreign = sorted(p.name for p in directory.iterdir() if p.name not in EXPERT_FILES)
    if foreign:
        raise ExpertError(f"{directory} holds files that are not an expert's ({', '.join(foreign[:3])}); "
                          "raydd leaves it alone")
    if not any(directory.iterdir()):
        return MISSING
    manifest = _read_manifest(directory)
    if manifest is None:
        return f"damaged: its {MANIFEST} is missing or unreadable"
    found = manifest["identity"]
    if (found.get("dataset"), found.get("arch")) != (identity.dataset, identity.arch):
        raise ExpertError(f"{directory} holds an expert of {found.get('dataset')}/{found.get('arch')}, not of "
                          f"{identity.dataset}/{identity.arch}; raydd leaves it alone")
    if found != identity.to_dict():
        raise ExpertError(f"{directory} holds another expert of {identity.dataset}/{identity.arch} (other settings "
                          f"or seed) than {identity.label}; raydd leaves it alone")
    return _file_damage(directory, manifest) or _layout_change(identity, manifest)


def _read_manifest(directory: Path) -> dict | None:
    """The manifest, or None when it is missing or unreadable (the store's own, damaged). One that
    reads but is another program's is an `ExpertError`."""
    path = directory / MANIFEST
    try:
        manifest = strict_json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ExpertError(f"{path}: format {found!r} is not {FORMAT_NAME!r}; raydd leaves it alone")
    types = {"identity": dict, "layout": list, "epochs": int, "file_bytes": int, "sha256": str}
    if manifest.get("format_version") != FORMAT_VERSION or not all(
            isinstance(manifest.get(key), kind) for key, kind in types.items()):
        return None  # cut short or hand-edited: damaged
    try:
        ParamLayout.from_list(manifest["layout"])
    except (TypeError, ValueError):
        return None
    return manifest


def _file_damage(directory: Path, manifest: dict) -> str | None:
    path = directory / TRAJECTORY
    if not path.is_file():
        return f"damaged: {TRAJECTORY} is missing"
    size = path.stat().st_size
    if size != manifest["file_bytes"]:
        return f"damaged: {TRAJECTORY} holds {size} bytes, its manifest says {manifest['file_bytes']}"
    if _sha256(path) != manifest["sha256"]:
        return f"damaged: {TRAJECTORY} does not match the SHA-256 in its manifest"
    return None


def _layout_change(identity: ExpertIdentity, manifest: dict) -> str | None:
    """A sound expert whose net no longer has the architecture's parameters (raydd changed it)."""
    layout = ParamLayout.from_list(manifest["layout"])
    if layout != check_unrollable(identity.arch, identity.channels, identity.num_classes, identity.image_size):
        return f"stale: its parameters are not those of today's {identity.arch}"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- files --------------------------------------------------------------------------------------
def _read_trajectory(directory: Path, manifest: dict) -> Trajectory:
    """The trajectory from the very bytes whose SHA-256 was checked (a copy in memory, so nothing
    that later happens to the file can change a loaded expert)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = directory / TRAJECTORY
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise ExpertError(f"{path} cannot be read: {exc}") from None
    if len(payload) != manifest["file_bytes"] or hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
        raise ExpertError(f"{path} changed while it was read: it no longer matches its manifest")
    try:
        params = load(payload)["trajectory"]
    except (SafetensorError, KeyError) as exc:
        raise ExpertError(f"{path} cannot be read: {exc}") from None
    return Trajectory(manifest["identity"]["arch"], ParamLayout.from_list(manifest["layout"]), params)


def _write_files(directory: Path, identity: ExpertIdentity, trajectory: Trajectory, train_seconds: float) -> None:
    from safetensors.torch import save

    from raydd import __version__

    payload = save({"trajectory": trajectory.params.detach().cpu().contiguous()},
                   metadata={"format": FORMAT_NAME, "key": identity.key})
    _write_synced(directory / TRAJECTORY, payload)
    manifest = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "key": identity.key,
        "identity": identity.to_dict(), "epochs": trajectory.epochs,
        "layout": trajectory.layout.to_list(), "file_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(), "train_seconds": round(train_seconds, 3),
        "raydd_version": __version__, "torch_version": torch.__version__,
    }
    _write_synced(directory / MANIFEST, (strict_json.dumps(manifest, indent=1) + "\n").encode())
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)  # mkdtemp makes 0700; experts are shared by every trial
    for name in EXPERT_FILES:
        (directory / name).chmod(0o666 & ~umask)


def _write_synced(path: Path, payload: bytes) -> None:
    with open(path, "wb") as out:
        out.write(payload)
        out.flush()
        os.fsync(out.fileno())


def _move_into_place(temporary: Path, target: Path, identity: ExpertIdentity) -> None:
    """Rename the finished expert into place. A sound expert that appeared meanwhile (another
    worker) is kept and ours dropped; a damaged one is moved aside and its files removed."""
    if target.exists() and _problem(target, identity) is None:
        return
    if target.exists() and any(target.iterdir()):
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        _remove_expert_files(old)
    try:
        os.replace(temporary, target)
    except OSError:
        if _problem(target, identity) is not None:  # lost a race to a worker that left no sound expert
            raise


def _remove_expert_files(directory: Path) -> None:
    """Remove the store's own files, then the directory if that emptied it; nothing else."""
    for name in EXPERT_FILES:
        (directory / name).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass
