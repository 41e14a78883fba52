"""Locations (a local path or a URI such as `s3://bucket/prefix`) resolved to pyarrow filesystems.

Shared by the results layer and the sweep service, so both reach the same object store the same
way. An S3-compatible server other than AWS (MinIO, moto, Ceph) is named by `RAYDD_S3_ENDPOINT`
or, failing that, by the standard `AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:5000`); credentials
and region come from the usual AWS variables. An `s3://` URI with query parameters
(`?endpoint_override=host:port&scheme=http`) is handed to pyarrow as it is. Needs pyarrow only.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

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
