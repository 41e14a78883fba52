"""Write a local file so that readers see the whole of it or nothing (standard library only)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_write(target: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a hidden temporary file beside `target`; rename it into place if the block succeeds.

    The rename is atomic on POSIX, so concurrent readers (and writers of the same name) never see a
    half-written file, and a crash leaves at most a dot-prefixed temporary that readers skip.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; results and caches are shared
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_can_create(target: str | os.PathLike) -> None:
    """Raise OSError (saying why) unless a file or directory could be created at `target`.

    Its nearest existing ancestor must be a directory that accepts a new file: a real attempt,
    removed at once, since permission bits do not tell for root, read-only mounts or quotas.
    Cheap enough to call before any long work whose result goes to `target`.
    """
    ancestor = Path(target).absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"cannot write {target}: {ancestor} is a file, not a directory")
    try:
        handle, probe = tempfile.mkstemp(prefix=".raydd-probe-", dir=ancestor)
    except OSError as err:
        raise PermissionError(f"cannot write {target}: {ancestor} is not writable ({err.strerror})") from None
    os.close(handle)
    os.unlink(probe)
