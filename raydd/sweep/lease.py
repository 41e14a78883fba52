"""One driver per sweep: a lease file in the sweep's storage, renewed while the driver lives.

`<storage>/<name>/LEASE` says who runs the sweep (host, pid, since when, last renewal). A second
`submit` or `resume` of the same sweep finds it and stops with a message naming the holder,
before Ray starts. A lease whose holder is gone is taken over, with a message saying why: on the
holder's own host at once when its process no longer exists (a driver killed with kill -9),
from anywhere once it has not been renewed for STALE_AFTER_S.

Creating the lease is atomic on a local disk (O_EXCL). Object stores offer no create-if-absent
through pyarrow, so there a writer writes its lease, waits SETTLE_S and reads it back: of two
drivers that raced, both read the last writer's lease and only that one goes on. The same check
guards taking over a stale lease, everywhere.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from raydd import storage

RENEW_EVERY_S = 10.0
STALE_AFTER_S = 60.0  # six missed renewals: the holder is gone (or cut off from storage)
SETTLE_S = 2.0  # far longer than the gap between one writer's check and its write


class SweepLeaseHeld(ValueError):
    """Another live driver holds the sweep (a refusal, reported like bad input)."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    token: str
    since: float
    renewed: float

    @classmethod
    def me(cls) -> "Holder":
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex, now, now)

    def describe(self) -> str:
        return (f"pid {self.pid} on {self.host} (since {_clock(self.since)}, "
                f"last renewed {time.time() - self.renewed:.0f} s ago)")

    def gone(self) -> str | None:
        """Why this holder no longer runs the sweep, or None while it may."""
        if self.host == socket.gethostname() and not _process_exists(self.pid):
            return f"its process {self.pid} no longer exists"
        if time.time() - self.renewed > STALE_AFTER_S:
            return f"it has not renewed its lease for {time.time() - self.renewed:.0f} s"
        return None


def _clock(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read_holder(location: str) -> Holder | None:
    """The lease at `location`; None when there is none (or it is unreadable: a torn write)."""
    if not storage.exists(location):
        return None
    try:
        return Holder(**json.loads(storage.read_text(location)))
    except (ValueError, TypeError, FileNotFoundError):
        return None


RELEASE_WAIT_S = 30  # at most this long for a renewal in flight to finish before the lease goes


class Lease:
    """This process's hold on one sweep; renewed by a daemon thread until released."""

    def __init__(self, location: str, holder: Holder) -> None:
        self.location, self.holder = location, holder
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="raydd-lease", daemon=True)

    def _write(self) -> None:
        storage.write_text(self.location, json.dumps(asdict(self.holder)))

    def _renew(self) -> None:
        while not self.done.wait(RENEW_EVERY_S):
            current = read_holder(self.location)
            if current is not None and current.token != self.holder.token:
                print(f"[sweep] lost the lease {self.location} to {current.describe()}", flush=True)
                return
            self.holder = Holder(**{**asdict(self.holder), "renewed": time.time()})
            try:
                self._write()
            except OSError as err:  # storage unreachable for a moment; the next renewal retries
                print(f"[sweep] could not renew the lease {self.location}: {err}", flush=True)

    def release(self) -> None:
        self.done.set()
        if self.thread.is_alive():  # a renewal already past its wait would write the lease back
            self.thread.join(timeout=RELEASE_WAIT_S)
        current = read_holder(self.location)
        if current is not None and current.token == self.holder.token:
            storage.delete(self.location)


def acquire(location: str, echo: Callable[[str], None] = print) -> Lease:
    """Take the lease at `location` or raise SweepLeaseHeld naming the live holder."""
    lease = Lease(location, Holder.me())
    current = read_holder(location)
    if current is None and not storage.is_uri(location):
        if _create_local(location, lease):
            return _start(lease)
        current = read_holder(location)  # another driver created it first
    if current is not None:
        why = current.gone()
        if why is None:
            raise SweepLeaseHeld(f"{location} is held by {current.describe()}: another driver runs this "
                                 "sweep; wait for it, or stop it with `raydd sweep stop`")
        echo(f"[sweep] taking over the lease of {current.describe()}: {why}")
    lease._write()
    time.sleep(SETTLE_S)
    winner = read_holder(location)
    if winner is None or winner.token != lease.holder.token:
        who = winner.describe() if winner else "another driver"
        raise SweepLeaseHeld(f"{location} was taken at the same moment by {who}")
    return _start(lease)


def _create_local(location: str, lease: Lease) -> bool:
    """Create the lease file only if absent (atomic); False when another writer was first."""
    try:
        os.makedirs(os.path.dirname(location), exist_ok=True)
        fd = os.open(location, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as err:  # the storage is a file, read-only, not ours...
        raise storage.storage_error(location, err) from None
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(asdict(lease.holder)))
    return True


def _start(lease: Lease) -> Lease:
    lease.thread.start()
    return lease


_held: dict[str, list] = {}  # location -> [lease, depth]: nested holds in one process share it


@contextmanager
def hold(location: str, echo: Callable[[str], None] = print) -> Iterator[Lease]:
    """Hold the lease for the block; nested holds of one location in one process are one hold."""
    if location in _held:
        _held[location][1] += 1
    else:
        _held[location] = [acquire(location, echo), 1]
    try:
        yield _held[location][0]
    finally:
        _held[location][1] -= 1
        if _held[location][1] == 0:
            _held.pop(location)[0].release()
