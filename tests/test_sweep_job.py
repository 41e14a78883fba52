"""`raydd sweep submit --address` against a real single-node Ray cluster started by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep

BIN = Path(sys.executable).parent
PORT_OPTIONS = ("port", "dashboard-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                "metrics-export-port", "runtime-env-agent-port", "node-manager-port",
                "object-manager-port", "ray-client-server-port")
WORKER_PORTS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_ports() -> dict[str, int]:
    """A free port per Ray component, and a worker port range that holds none of them: Ray refuses
    to start when a component's port falls inside the worker range."""
    ports = {name: _free_port() for name in PORT_OPTIONS}
    low = _free_port()
    while low + WORKER_PORTS > 65535 or any(low <= p <= low + WORKER_PORTS for p in ports.values()):
        low = _free_port()
    return {**ports, "min-worker-port": low, "max-worker-port": low + WORKER_PORTS}


def _env() -> dict:
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1",
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture
def ray_cluster(tmp_path_factory):
    """`ray start --head` in its own session; the whole session is stopped afterwards (no `ray stop`,
    which would stop every Ray on the machine)."""
    ports = _cluster_ports()
    temp_dir = tmp_path_factory.mktemp("ray")
    command = [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus=2", "--include-dashboard=true",
               "--dashboard-host=127.0.0.1", f"--temp-dir={temp_dir}"] + [f"--{k}={v}" for k, v in ports.items()]
    log = temp_dir / "ray-start.log"  # quoted in the error if the head fails to come up
    with open(log, "wb") as out:
        head = subprocess.Popen(command, env=_env(), start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{ports['dashboard-port']}"
    try:
        _wait_for(address, head, log)
        yield address
    finally:
        for sig, pause in ((signal.SIGTERM, 5), (signal.SIGKILL, 0)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(pause)
        head.wait(timeout=30)


def _wait_for(address: str, head: subprocess.Popen, log, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"ray start exited with {head.returncode}; its output ends:\n{tail}")
        try:
            urllib.request.urlopen(f"{address}/api/version", timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"no Ray dashboard at {address} after {timeout_s} s")


@pytest.mark.slow
def test_submit_to_a_cluster_runs_the_sweep_as_a_ray_job(tmp_path, ray_cluster):
    storage_root = tmp_path / "shared-storage"
    spec_path = write_sweep(tmp_path, tiny_sweep("asjob", str(storage_root), seeds=(0,)))
    result = subprocess.run(
        [str(BIN / "raydd"), "sweep", "submit", spec_path.name, "--address", ray_cluster, "--wait"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=540,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "submitted Ray Job" in output and "SUCCEEDED" in output

    from raydd.spec import load_spec
    from raydd.sweep.runner import load_results

    df = load_results(str(storage_root / "asjob" / "results"))
    assert sorted(row_keys(df)) == sorted(expected_keys(load_spec(spec_path)))
    assert (storage_root / "asjob" / "job.json").exists()
