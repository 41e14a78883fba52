"""`raydd sweep submit --address` against a real single-node Ray cluster started by the test,
with token authentication on, as cluster.yaml runs it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
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


def _cluster_ports(names=PORT_OPTIONS) -> dict[str, int]:
    """A free port per Ray component named, and a worker port range that holds none of them: Ray
    refuses to start when a component's port falls inside the worker range."""
    ports = {name: _free_port() for name in names}
    low = _free_port()
    while low + WORKER_PORTS > 65535 or any(low <= p <= low + WORKER_PORTS for p in ports.values()):
        low = _free_port()
    return {**ports, "min-worker-port": low, "max-worker-port": low + WORKER_PORTS}


def _env(token_path=None) -> dict:
    """The environment of the head and of a client: token auth with the token at `token_path`."""
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1",
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN", None)
    if token_path is None:
        env["RAY_AUTH_MODE"] = "disabled"
        env.pop("RAY_AUTH_TOKEN_PATH", None)
    else:
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path))
    return env


@pytest.fixture(scope="module")
def cluster_token(tmp_path_factory):
    """The cluster's token, as `ray get-auth-token --generate` would write it."""
    path = tmp_path_factory.mktemp("token") / "auth_token"
    path.write_text(secrets.token_hex(32))
    return path


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, cluster_token):
    """`ray start --head` with token auth, in its own session; the whole session is stopped
    afterwards (no `ray stop`, which would stop every Ray on the machine)."""
    ports = _cluster_ports()
    temp_dir = tmp_path_factory.mktemp("ray")
    command = [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus=2", "--include-dashboard=true",
               "--dashboard-host=127.0.0.1", f"--temp-dir={temp_dir}"] + [f"--{k}={v}" for k, v in ports.items()]
    log = temp_dir / "ray-start.log"  # quoted in the error if the head fails to come up
    with open(log, "wb") as out:
        head = subprocess.Popen(command, env=_env(cluster_token), start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{ports['dashboard-port']}"
    try:
        _wait_for(address, head, log)
        yield address
    finally:
        stop_process_group(head)


def stop_process_group(process: subprocess.Popen) -> None:
    """End a `ray start --block` and everything it started: SIGTERM, then SIGKILL after 5 s."""
    for sig, pause in ((signal.SIGTERM, 5), (signal.SIGKILL, 0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        time.sleep(pause)
    process.wait(timeout=30)


def _wait_for(address: str, head: subprocess.Popen, log, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"ray start exited with {head.returncode}; its output ends:\n{tail}")
        try:
            urllib.request.urlopen(f"{address}/api/version", timeout=2)
            return
        except urllib.error.HTTPError:  # 401 without a token: the dashboard is up
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"no Ray dashboard at {address} after {timeout_s} s")


def _submit(spec_path: Path, address: str, env: dict, timeout: int = 540) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "raydd"), "sweep", "submit", spec_path.name, "--address", address, "--wait"],
        cwd=spec_path.parent, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.slow
def test_submit_to_a_cluster_runs_the_sweep_as_a_ray_job(tmp_path, ray_cluster, cluster_token):
    storage_root = tmp_path / "shared-storage"
    spec_path = write_sweep(tmp_path, tiny_sweep("asjob", str(storage_root), seeds=(0,)))
    (tmp_path / ".env").write_text("AWS_SECRET_ACCESS_KEY=not-for-the-cluster\n")
    result = _submit(spec_path, ray_cluster, _env(cluster_token))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "submitted Ray Job" in output and "SUCCEEDED" in output
    assert f"uploading 1 file(s) from {tmp_path}" in output  # the sweep file, not the .env

    from raydd.spec import load_spec
    from raydd.sweep.runner import load_results

    df = load_results(str(storage_root / "asjob" / "results"))
    assert sorted(row_keys(df)) == sorted(expected_keys(load_spec(spec_path)))
    assert (storage_root / "asjob" / "job.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("client", ["no token", "wrong token"])
def test_a_client_without_the_clusters_token_is_refused_in_one_line(tmp_path, ray_cluster, client):
    spec_path = write_sweep(tmp_path, tiny_sweep("refused", str(tmp_path / "storage"), seeds=(0,)))
    wrong = tmp_path / "wrong_token"
    wrong.write_text(secrets.token_hex(32))
    result = _submit(spec_path, ray_cluster, _env(None if client == "no token" else wrong), timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: the Ray cluster at {ray_cluster} refused this client")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "uploading" not in result.stdout and not (tmp_path / "storage").exists()
