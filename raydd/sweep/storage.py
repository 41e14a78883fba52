"""Where a sweep keeps its files, on a local disk or an object store, all through pyarrow.fs.

A location is a local path or a URI (`s3://bucket/prefix`, `gs://...`). An S3-compatible server
other than AWS (MinIO, moto, Ceph) is named by `RAYDD_S3_ENDPOINT` or, failing that, by the
standard `AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:5000`); credentials and region come from
the usual AWS variables. Every filesystem in raydd.sweep is built by `filesystem_for`.

Layout of one sweep (`SweepPaths`):

    <storage>/<name>/spec.yaml                       the submitted sweep file
    <storage>/<name>/tune/                           the Tune experiment (state, checkpoints)
    <storage>/<name>/synsets/<trial_key>/            synthetic-set artifacts
    <storage>/<name>/synsets/<trial_key>/teachers/seed<k>.pt   the shared KD teacher per eval seed
    <storage>/<name>/trials/<trial_key>.done         a trial distilled its set and handed it over
    <storage>/<name>/results/<job>.parquet           the rows of one evaluation job (name = job)
    <storage>/<name>/quarantine/<job>.parquet.<time> a bad result file, moved aside (never deleted)
    <storage>/<name>/STOP                            a stop request (`raydd sweep stop`)
    <storage>/<name>/LEASE                           which driver runs the sweep (raydd.sweep.lease)
    <storage>/<name>/job.json                        the Ray Job that runs the sweep, if any
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass

import pyarrow.fs as pafs

from raydd.atomic import atomic_write
from raydd.storage import (  # noqa: F401  (re-exported: the sweep layer's one door to storage)
    ENDPOINT_VARS,
    StorageError,
    absolute,
    filesystem_for,
    is_uri,
    join,
    s3_endpoint,
    storage_error,
)

# What a remote process (trial, evaluation actor) needs to reach the same object store.
FORWARDED_VARS = ENDPOINT_VARS + (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
)


def capture_storage_env() -> dict[str, str]:
    """The storage variables of this process, to hand to Ray workers started before they were set."""
    return {k: os.environ[k] for k in FORWARDED_VARS if os.environ.get(k)}


def apply_storage_env(env: dict[str, str]) -> None:
    """Set the driver's storage variables in a worker (without overriding the worker's own)."""
    for key, value in env.items():
        os.environ.setdefault(key, value)


# ---- small file operations -------------------------------------------------------------------
def _reported(operation):
    """Filesystem errors of `operation(location, ...)` name the location (raydd.storage.storage_error);
    a missing file stays a FileNotFoundError."""
    @functools.wraps(operation)
    def reported(location, *args, **kwargs):
        try:
            return operation(location, *args, **kwargs)
        except (FileNotFoundError, StorageError):
            raise
        except OSError as err:
            raise storage_error(location, err) from None

    return reported


@_reported
def exists(location: str) -> bool:
    fs, path = filesystem_for(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


@_reported
def read_bytes(location: str) -> bytes:
    fs, path = filesystem_for(location)
    with fs.open_input_stream(path) as f:
        return f.read()


@_reported
def write_bytes(location: str, data: bytes) -> None:
    """Atomic: a hidden temp file renamed into place locally, one PUT on an object store."""
    fs, path = filesystem_for(location)
    if isinstance(fs, pafs.LocalFileSystem):
        with atomic_write(path) as f:
            f.write(data)
        return
    with fs.open_output_stream(path) as out:
        out.write(data)


def read_text(location: str) -> str:
    return read_bytes(location).decode()


def write_text(location: str, text: str) -> None:
    write_bytes(location, text.encode())


@_reported
def delete(location: str) -> None:
    """Remove a file if it is there."""
    fs, path = filesystem_for(location)
    if fs.get_file_info(path).type == pafs.FileType.File:
        fs.delete_file(path)


@_reported
def move(source: str, target: str) -> None:
    """Move a file (a rename locally; copy then delete on an object store)."""
    fs, path = filesystem_for(source)
    _, target_path = filesystem_for(target)
    fs.create_dir(target_path.rsplit("/", 1)[0], recursive=True)
    fs.move(path, target_path)


@_reported
def list_names(location: str) -> list[str]:
    """Names directly under a directory (visible ones only); empty when it does not exist."""
    fs, path = filesystem_for(location)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name for i in infos if not i.base_name.startswith((".", "_")))


def upload_dir(local_dir: str, location: str) -> None:
    """Copy a local directory to `location` (a plain copy when `location` is local)."""
    fs, path = filesystem_for(location)
    if isinstance(fs, pafs.LocalFileSystem):
        shutil.copytree(local_dir, path, dirs_exist_ok=True)
        return
    pafs.copy_files(local_dir, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def download_dir(location: str, local_dir: str) -> None:
    fs, path = filesystem_for(location)
    pafs.copy_files(path, local_dir, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())


@dataclass(frozen=True)
class SweepPaths:
    """Every file of one sweep, as locations under `root` = `<storage>/<name>`."""

    root: str

    @classmethod
    def of(cls, storage: str, name: str) -> "SweepPaths":
        """The sweep `name` under `storage`; a name that is not one (`..`, `a/b`) is a ValueError."""
        from raydd.spec import name_problem

        problem = name_problem(name)
        if problem:
            raise ValueError(f"sweep name {problem}")
        return cls(join(absolute(storage), name))

    @property
    def spec(self) -> str:
        return join(self.root, "spec.yaml")

    @property
    def tune(self) -> str:
        return join(self.root, TUNE_DIR)

    @property
    def results(self) -> str:
        return join(self.root, "results")

    @property
    def stop_request(self) -> str:
        return join(self.root, "STOP")

    @property
    def lease(self) -> str:
        return join(self.root, "LEASE")

    @property
    def job_record(self) -> str:
        return join(self.root, "job.json")

    @property
    def trials(self) -> str:
        return join(self.root, "trials")

    def synset(self, trial_key: str) -> str:
        return join(self.root, "synsets", trial_key)

    def teacher(self, trial_key: str, seed: int) -> str:
        return join(self.synset(trial_key), "teachers", f"seed{seed}.pt")

    def trial_done(self, trial_key: str) -> str:
        return join(self.trials, f"{trial_key}.done")

    def result_file(self, job_name: str) -> str:
        return join(self.results, f"{job_name}.parquet")

    def quarantined(self, name: str) -> str:
        return join(self.root, "quarantine", name)


TUNE_DIR = "tune"  # the Tune experiment name under the sweep root
