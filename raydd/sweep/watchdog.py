"""Ends what a killed driver's local Ray leaves behind.

When the driver that started a local Ray dies, even by kill -9, Ray stops its GCS, raylet and
workers within seconds, but its RuntimeEnvAgent and DashboardAgent notice only 20-40 s later and
hold their ports meanwhile (measured with Ray 2.60; tests/test_sweep_driver.py). `raydd sweep
submit|resume` therefore starts this watchdog beside a local Ray: a small process of its own
(standard library only) that notes the driver's process tree every POLL_S and, once the driver
is gone, terminates whatever of that tree still runs (SIGTERM, then SIGKILL after GRACE_S).
Processes are told apart by pid and start time, so a reused pid is never touched. Linux only
(it reads /proc); elsewhere it does nothing.

    python -m raydd.sweep.watchdog DRIVER_PID
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 1.0
GRACE_S = 3.0


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def process_tree(root: int) -> dict[int, str]:
    """pid -> start time of `root` and of every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if (fields := _stat(pid)) is not None:
            tree[pid] = fields[19]
            todo.extend(children.get(pid, []))
    return tree


def still_running(tree: dict[int, str]) -> list[int]:
    """The processes of `tree` that still run: same pid and start time, not a zombie."""
    alive = []
    for pid, started in tree.items():
        fields = _stat(pid)
        if fields is not None and fields[19] == started and fields[0] != "Z":
            alive.append(pid)
    return alive


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def watch(driver: int) -> None:
    """Follow `driver` until it is gone, then end the rest of its last known process tree."""
    tree = process_tree(driver)
    started = tree.get(driver)
    while started is not None and still_running({driver: started}):
        tree.update(process_tree(driver))
        time.sleep(POLL_S)
    for pid in (driver, os.getpid()):  # the watchdog is the driver's child too
        tree.pop(pid, None)
    _signal_all(still_running(tree), signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while still_running(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_all(still_running(tree), signal.SIGKILL)


def start() -> subprocess.Popen | None:
    """Start a watchdog for this process (None where there is no /proc)."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen([sys.executable, "-m", "raydd.sweep.watchdog", str(os.getpid())],
                            stdin=subprocess.DEVNULL, start_new_session=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
