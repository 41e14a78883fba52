"""Locations (a local path or a URI such as `s3://bucket/prefix`) and the small file operations on them.

The one door to storage for the results layer and the sweep service, so both reach the same
object store the same way, all through pyarrow filesystems. An S3-compatible server other than AWS
(MinIO, moto, Ceph) is named by `RAYDD_S3_ENDPOINT` or, failing that, by the standard
`AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:5000`); credentials and region come from the usual AWS
variables. An `s3://` URI with query parameters (`?endpoint_override=host:port&scheme=http`) is
handed to pyarrow as it is. Needs pyarrow only.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from raydd.atomic import atomic_write

DEFAULT_STORAGE = "./runs"  # where a sweep keeps its files when neither its file nor --storage says
ENDPOINT_VARS = ("RAYDD_S3_ENDPOINT", "AWS_ENDPOINT_URL")
# What a remote process (trial, evaluation actor) needs to reach the same object store.
FORWARDED_VARS = ENDPOINT_VARS + (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
)
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                   "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


class StorageError(OSError):
    """A location that cannot be reached or used: says which, and what may be missing."""


def storage_error(location: str, err: OSError) -> StorageError:
    """`err` from the filesystem of `location`, as one line naming the location and, for S3,
    the endpoint and whether any credentials are configured here."""
    text = " ".join(str(err).split()) or type(err).__name__
    return StorageError(f"cannot use {location}: {text}{_s3_hint() if str(location).startswith('s3://') else ''}")


def _s3_hint() -> str:
    endpoint = s3_endpoint() or "AWS"
    if any(os.environ.get(name) for name in CREDENTIAL_VARS) or Path("~/.aws/credentials").expanduser().exists():
        return f" (S3 endpoint: {endpoint})"
    return (f" (S3 endpoint: {endpoint}; no AWS credentials are configured here: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run where an instance profile provides them)")


def is_uri(location: str) -> bool:
    return "://" in str(location)


def absolute(location: str) -> str:
    """A URI unchanged; a local path made absolute (a Ray worker runs in another directory)."""
    return str(location) if is_uri(location) else os.path.abspath(location)


def join(base: str, *parts: str) -> str:
    if is_uri(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return str(Path(base, *parts))


def s3_endpoint() -> str | None:
    """The S3-compatible endpoint URL from the environment, if any."""
    for name in ENDPOINT_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _s3_filesystem() -> pafs.S3FileSystem:
    kwargs: dict = {}
    endpoint = s3_endpoint()
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs.update(endpoint_override=parts.netloc, scheme=parts.scheme)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    # one PutObject per small file: an object appears whole or not at all
    return pafs.S3FileSystem(allow_delayed_open=True, **kwargs)


def filesystem_for(location: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or a URI."""
    location = str(location)
    if not is_uri(location):
        return pafs.LocalFileSystem(), os.path.abspath(location)
    scheme, rest = location.split("://", 1)
    if scheme == "s3" and "?" not in rest:
        return _s3_filesystem(), rest.rstrip("/")
    if scheme == "file":
        return pafs.LocalFileSystem(), "/" + rest.lstrip("/")
    try:
        return pafs.FileSystem.from_uri(location)
    except Exception as err:  # pyarrow raises ArrowInvalid/OSError for unknown schemes
        raise ValueError(f"cannot open storage location {location!r}: {err}") from None


# ---- the environment of remote processes ---------------------------------------------------------
def capture_storage_env() -> dict[str, str]:
    """The storage variables of this process, to hand to Ray workers started before they were set."""
    return {k: os.environ[k] for k in FORWARDED_VARS if os.environ.get(k)}


def apply_storage_env(env: dict[str, str]) -> None:
    """Set the driver's storage variables in a worker (without overriding the worker's own)."""
    for key, value in env.items():
        os.environ.setdefault(key, value)


# ---- small file operations -------------------------------------------------------------------
def _reported(operation):
    """Filesystem errors of `operation(location, ...)` name the location (`storage_error`);
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
