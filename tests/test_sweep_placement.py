"""GPU placement without a GPU: a two-node Ray cluster on loopback that declares 2 GPUs per node.

Ray schedules by declared resources, so trials asking `gpu: 1` run four at a time across both
nodes and the evaluators share "GPUs" at 0.25 each, while the code computes on the CPU because
CUDA is absent; the rows say so (`device` cpu) and name the node that computed them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep
from test_sweep_job import BIN, _cluster_ports, _env, stop_process_group

NODE_GPUS = 2
WORKER_NODE_PORTS = ("node-manager-port", "object-manager-port", "metrics-export-port", "runtime-env-agent-port",
                     "dashboard-agent-listen-port", "dashboard-agent-grpc-port")


def _start(command: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=_env(None), start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT)


def _wait_for_nodes(gcs: str, count: int, processes, logs, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    script = ("import ray; ray.init(address=%r, logging_level='ERROR'); "
              "print(sum(n['Alive'] for n in ray.nodes()))" % gcs)
    while time.monotonic() < deadline:
        for process, log in zip(processes, logs):
            if process.poll() is not None:
                raise RuntimeError(f"ray start exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        probe = subprocess.run([str(BIN / "python"), "-c", script], env=_env(None), capture_output=True,
                               text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(2)
    raise TimeoutError(f"{count} Ray nodes did not come up at {gcs} within {timeout_s} s")


@pytest.fixture(scope="module")
def two_gpu_nodes(tmp_path_factory):
    """A head and a second node on this machine, each declaring 2 CPUs and 2 GPUs."""
    temp_dir = tmp_path_factory.mktemp("ray")
    ports = _cluster_ports()
    common = ["--block", "--num-cpus=2", f"--num-gpus={NODE_GPUS}"]
    head = _start([str(BIN / "ray"), "start", "--head", *common, "--include-dashboard=false",
                   f"--temp-dir={temp_dir}"] + [f"--{k}={v}" for k, v in ports.items()
                                                if k not in ("dashboard-port", "ray-client-server-port")],
                  temp_dir / "head.log")
    gcs = f"127.0.0.1:{ports['port']}"
    processes, logs = [head], [temp_dir / "head.log"]
    try:
        _wait_for_nodes(gcs, 1, processes, logs)
        second_ports = _cluster_ports(WORKER_NODE_PORTS)  # its worker range clear of its components' ports
        second = _start([str(BIN / "ray"), "start", f"--address={gcs}", *common]
                        + [f"--{k}={v}" for k, v in second_ports.items()], temp_dir / "second.log")
        processes.append(second)
        logs.append(temp_dir / "second.log")
        _wait_for_nodes(gcs, 2, processes, logs)
        yield gcs
    finally:
        for process in reversed(processes):
            stop_process_group(process)


def _submit_tiny_sweep(tmp_path: Path, name: str, gcs: str, trial_gpu: float, evaluator_gpu: float):
    """Run a 4-trial tiny sweep on the cluster at `gcs` with the given GPU asks; returns the sweep's
    root and its rows, after checking it wrote exactly the expected ones."""
    from raydd.spec import load_spec
    from raydd.sweep.runner import load_results

    raw = tiny_sweep(name, str(tmp_path / "storage"), seeds=(0, 1, 2, 3), iterations=3)
    raw["evaluation"].update(kd=["off"], epochs=2)
    raw["resources"] = {"trial": {"cpu": 0.5, "gpu": trial_gpu},
                        "evaluators": {"count": 2, "cpu": 0.25, "gpu": evaluator_gpu},
                        "max_concurrent_trials": None, "max_failures": 0, "checkpoint_every": 3}
    spec_path = write_sweep(tmp_path, raw)
    env = dict(_env(None), RAY_ADDRESS=gcs)
    result = subprocess.run([str(BIN / "raydd"), "sweep", "submit", spec_path.name], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    root = tmp_path / "storage" / name
    df = load_results(str(root / "results"))
    assert sorted(row_keys(df)) == sorted(expected_keys(load_spec(spec_path)))
    return root, df


@pytest.mark.slow
def test_gpu_trials_run_on_both_nodes_and_rows_say_where(tmp_path, two_gpu_nodes):
    from ray import tune

    root, df = _submit_tiny_sweep(tmp_path, "placed", two_gpu_nodes, trial_gpu=1, evaluator_gpu=0.25)
    assert set(df["device"]) == {"cpu"}  # GPUs declared, CUDA absent: computed on the CPU
    assert df["node"].notna().all() and (df["node"].str.len() > 0).all()
    trials = tune.ExperimentAnalysis(str(root / "tune")).trials
    assert len(trials) == 4 and {t.last_result["device"] for t in trials} == {"cpu"}
    # 4 trials x 1 GPU on 2 nodes x 2 GPUs: Ray had to use both nodes
    assert len({t.last_result["node_id"] for t in trials}) == 2


@pytest.mark.slow
def test_gpu_evaluators_give_their_slices_back_for_the_next_trials(tmp_path, two_gpu_nodes):
    # Trials need a whole node (2 GPUs); evaluators take 0.5 GPU each. Evaluators held after the
    # first two sets could leave no node with 2 free GPUs, and the last two trials would wait forever.
    _submit_tiny_sweep(tmp_path, "handback", two_gpu_nodes, trial_gpu=2, evaluator_gpu=0.5)


@pytest.mark.slow
def test_a_trial_larger_than_every_node_is_refused_though_the_total_would_hold_it(tmp_path, two_gpu_nodes):
    # 3 GPUs fit the cluster's 4 but neither node's 2; the head runs no autoscaler, so it is refused
    raw = tiny_sweep("toolarge", str(tmp_path / "storage"))
    raw["resources"]["trial"] = {"cpu": 0.5, "gpu": 3}
    spec_path = write_sweep(tmp_path, raw)
    result = subprocess.run([str(BIN / "raydd"), "sweep", "submit", spec_path.name], cwd=tmp_path,
                            env=dict(_env(None), RAY_ADDRESS=two_gpu_nodes), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: resources: one trial (0.5 CPU, 3 GPU) fits on no node of this Ray cluster; its nodes have at "
        f"most 2 CPU, {NODE_GPUS} GPU (resources.trial.gpu); this Ray cluster has no autoscaler to add nodes")
    assert not any(p.is_file() for p in (tmp_path / "storage").rglob("*"))
