"""One driver per sweep: a second submit is refused naming the holder, a dead holder's lease is
taken over with a message, on a local disk and on S3 (moto)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep
from test_sweep_s3 import BUCKET, s3_endpoint  # noqa: F401  (the moto fixture)

import raydd.sweep.lease as lease_module
from raydd import storage
from raydd.sweep.layout import SweepPaths
from raydd.sweep.lease import SweepLeaseHeld, acquire, hold, read_holder

HOLD = """
import sys, time
from raydd.sweep.lease import acquire
acquire(sys.argv[1], echo=lambda line: None)
print("holding", flush=True)
time.sleep(600)
"""


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch):
    monkeypatch.setattr(lease_module, "SETTLE_S", 0.2)


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "runs" / "demo" / "LEASE")
    request.getfixturevalue("s3_endpoint")
    return f"s3://{BUCKET}/lease-{uuid.uuid4().hex}/demo/LEASE"  # moto keeps objects across tests


def holder_process(location: str) -> subprocess.Popen:
    """Another driver: a process that takes the lease and keeps it."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, location], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_second_driver_is_refused_and_a_dead_ones_lease_is_taken_over(location):
    other = holder_process(location)
    try:
        with pytest.raises(SweepLeaseHeld, match=rf"held by pid {other.pid} on {socket.gethostname()}"):
            acquire(location)
    finally:
        other.send_signal(signal.SIGKILL)  # kill -9: its lease stays behind
        other.wait()
    assert read_holder(location).pid == other.pid
    said = []
    mine = acquire(location, echo=said.append)
    try:
        assert said == [said[0]] and f"taking over the lease of pid {other.pid}" in said[0]
        assert f"its process {other.pid} no longer exists" in said[0]
        assert read_holder(location).pid == os.getpid()
    finally:
        mine.release()
    assert not storage.exists(location)


def test_a_lease_not_renewed_for_a_minute_is_taken_over(location):
    stale = {"host": "another-host", "pid": 1, "token": "t", "since": time.time() - 600,
             "renewed": time.time() - 120}
    storage.write_text(location, json.dumps(stale))
    said = []
    acquire(location, echo=said.append).release()
    assert "has not renewed its lease for 120 s" in said[0]


def test_two_drivers_racing_on_a_stale_lease_leave_one_holder(location, monkeypatch):
    """Between writing its lease and reading it back, the other driver writes too: whoever wrote
    last holds the lease, and the other one is refused."""
    stale = {"host": "another-host", "pid": 1, "token": "t", "since": 0.0, "renewed": 0.0}
    storage.write_text(location, json.dumps(stale))
    rival = {**stale, "host": "rival-host", "pid": 7, "token": "rival", "renewed": time.time()}
    monkeypatch.setattr(lease_module.time, "sleep", lambda s: storage.write_text(location, json.dumps(rival)))
    with pytest.raises(SweepLeaseHeld, match="taken at the same moment by pid 7 on rival-host"):
        acquire(location, echo=lambda line: None)
    assert read_holder(location).token == "rival"


def test_the_holder_renews_and_releases_only_its_own_lease(location, monkeypatch):
    monkeypatch.setattr(lease_module, "RENEW_EVERY_S", 0.05)
    with hold(location, echo=lambda line: None) as held:
        first = held.holder.since  # its first write; every renewal stamps a later time
        with hold(location) as nested:  # the runner inside the CLI: one hold
            assert nested is held
        assert storage.exists(location)
        assert _renewed_after(location, first, within_s=5.0)
    assert not storage.exists(location)


def _renewed_after(location: str, stamp: float, within_s: float) -> bool:
    """Whether a read of the lease shows a renewal later than `stamp` within the time; a read
    racing a renewal's write may see no lease (on an object store), so one read cannot tell."""
    deadline = time.time() + within_s
    while time.time() < deadline:
        current = read_holder(location)
        if current is not None and current.renewed > stamp:
            return True
        time.sleep(0.1)
    return False


def test_submit_and_resume_refuse_a_held_sweep_before_ray(tmp_path, monkeypatch):
    import ray

    from raydd.cli.main import cli
    from raydd.sweep.runner import store_spec

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started for a held sweep"))
    runs = str(tmp_path / "runs")
    path = write_sweep(tmp_path, tiny_sweep("held", runs))
    from raydd.spec import load_spec

    spec = load_spec(path)
    paths = SweepPaths.of(runs, "held")
    store_spec(spec, paths)
    other = holder_process(paths.lease)
    try:
        for args in (["sweep", "submit", str(path)], ["sweep", "resume", "held", "--storage", runs]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
            assert f"is held by pid {other.pid}" in result.output and "another driver runs this sweep" in result.output
        status = CliRunner().invoke(cli, ["sweep", "status", "held", "--storage", runs])
        assert f"driver: pid {other.pid} on {socket.gethostname()}" in status.output
    finally:
        other.kill()
        other.wait()
    status = CliRunner().invoke(cli, ["sweep", "status", "held", "--storage", runs])
    assert f"gone: its process {other.pid} no longer exists" in status.output
