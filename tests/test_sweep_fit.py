"""A sweep whose resources a Ray cluster can never give is refused once Ray is up, before anything
is asked of it or written (raydd.sweep.fit); one that fits runs as before (tests/test_sweep_run.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep

from raydd.cli.main import cli
from raydd.spec import ResourceSpec, load_spec
from raydd.sweep import fit
from raydd.sweep.fit import ClusterTooSmall, read_only_autoscaler, shortfall
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import load_results, run_sweep

HEAD_4_CPU_1_GPU = [{"CPU": 4.0, "GPU": 1.0, "memory": 8e9, "node:__internal_head__": 1.0}]
REPORTED = ResourceSpec(trial_cpu=2, trial_gpu=0.1, evaluators=6, evaluator_cpu=1, evaluator_gpu=0.1,
                        max_concurrent_trials=3)


def test_the_reported_sweep_is_refused_naming_the_evaluators_and_the_keys():
    assert shortfall(REPORTED, HEAD_4_CPU_1_GPU) == (
        "resources: the 6 evaluators (1 CPU, 0.1 GPU each) need 6 CPUs; this Ray cluster has 4 "
        "(resources.evaluators.count or resources.evaluators.cpu)")


def test_cpu_evaluators_are_counted_with_one_trial_beside_them():
    # CPU-only evaluators live for the whole sweep: 6 x 1 + 2 = 8 CPUs, though 6 alone would fit
    asks = ResourceSpec(trial_cpu=2, evaluators=6, evaluator_cpu=1)
    assert shortfall(asks, [{"CPU": 7.0}]) == (
        "resources: the 6 evaluators (1 CPU, 0 GPU each) and one trial (2 CPU, 0 GPU) need 8 CPUs; "
        "this Ray cluster has 7 (resources.evaluators.count, resources.evaluators.cpu or resources.trial.cpu)")
    assert shortfall(asks, [{"CPU": 8.0}]) is None  # an exact fit is a fit


def test_a_sweep_without_trials_needs_room_for_its_evaluators_alone():
    # baselines_only: nothing distils, so 2 evaluators of 1 CPU fill 2 cores; a trial's ask, even
    # one no node could give, is not checked
    asks = ResourceSpec(trial_cpu=4, trial_gpu=1, evaluators=2, evaluator_cpu=1)
    assert shortfall(asks, [{"CPU": 2.0}], trials=False) is None
    assert "need 3 CPUs" in shortfall(ResourceSpec(trial_cpu=1, evaluators=2, evaluator_cpu=1), [{"CPU": 2.0}])
    assert shortfall(asks, [{"CPU": 1.0}], trials=False) == (
        "resources: the 2 evaluators (1 CPU, 0 GPU each) need 2 CPUs; this Ray cluster has 1 "
        "(resources.evaluators.count or resources.evaluators.cpu)")


def test_gpu_evaluators_need_not_fit_beside_a_trial():
    # GPU evaluators are ended when idle, so trials and evaluators take turns on the one GPU
    asks = ResourceSpec(trial_cpu=1, trial_gpu=1, evaluators=2, evaluator_cpu=1, evaluator_gpu=0.5)
    assert shortfall(asks, [{"CPU": 2.0, "GPU": 1.0}]) is None
    too_many = ResourceSpec(trial_cpu=1, trial_gpu=1, evaluators=3, evaluator_cpu=0.5, evaluator_gpu=0.5)
    assert shortfall(too_many, [{"CPU": 2.0, "GPU": 1.0}]) == (
        "resources: the 3 evaluators (0.5 CPU, 0.5 GPU each) need 1.5 GPUs; this Ray cluster has 1 "
        "(resources.evaluators.count or resources.evaluators.gpu)")


def test_a_gpu_asked_of_a_cluster_without_one_names_who_asks():
    nodes = [{"CPU": 64.0}]
    assert shortfall(ResourceSpec(trial_gpu=1), nodes) == (
        "resources: a trial asks 1 GPU; this Ray cluster has no GPU (resources.trial.gpu)")
    assert shortfall(ResourceSpec(trial_gpu=0.5, evaluator_gpu=0.25), nodes) == (
        "resources: a trial asks 0.5 GPU and an evaluator asks 0.25 GPU; this Ray cluster has no GPU "
        "(resources.trial.gpu or resources.evaluators.gpu)")


def test_a_bundle_must_fit_on_one_node_not_only_in_the_total():
    two_nodes = [{"CPU": 2.0, "GPU": 2.0}, {"CPU": 2.0, "GPU": 2.0}]
    assert shortfall(ResourceSpec(trial_cpu=3, evaluator_cpu=0.5), two_nodes) == (
        "resources: one trial (3 CPU, 0 GPU) fits on no node of this Ray cluster; its nodes have at most "
        "2 CPU, 2 GPU (resources.trial.cpu)")
    assert shortfall(ResourceSpec(trial_cpu=1, evaluator_cpu=0.5, evaluator_gpu=3), two_nodes) == (
        "resources: one evaluator (0.5 CPU, 3 GPU) fits on no node of this Ray cluster; its nodes have at most "
        "2 CPU, 2 GPU (resources.evaluators.gpu)")
    # four 1-GPU trials and two 0.25-GPU evaluators: tests/test_sweep_placement.py runs this
    assert shortfall(ResourceSpec(trial_cpu=0.5, trial_gpu=1, evaluators=2, evaluator_cpu=0.25,
                                  evaluator_gpu=0.25), two_nodes) is None


def test_a_bundle_that_needs_the_cpus_of_one_node_and_the_gpu_of_another_names_both_keys():
    split = [{"CPU": 8.0}, {"CPU": 1.0, "GPU": 1.0}]
    assert shortfall(ResourceSpec(trial_cpu=4, trial_gpu=1), split) == (
        "resources: one trial (4 CPU, 1 GPU) fits on no node of this Ray cluster; its nodes have at most "
        "8 CPU, 1 GPU (resources.trial.cpu or resources.trial.gpu)")


def test_one_node_is_named_as_the_place_itself():
    assert shortfall(ResourceSpec(trial_cpu=4), [{"CPU": 2.0}], where="this machine") == (
        "resources: one trial (4 CPU, 0 GPU) needs more than this machine has (2 CPU, 0 GPU) "
        "(resources.trial.cpu)")


def test_fractions_that_add_up_to_the_whole_are_not_refused_for_rounding():
    # 3 x 0.8 + 0.6 is 3.0000000000000004 in floats; Ray counts in ten-thousandths, so it fits 3 CPUs
    asks = ResourceSpec(trial_cpu=0.6, evaluators=3, evaluator_cpu=0.8)
    assert asks.evaluators * asks.evaluator_cpu + asks.trial_cpu > 3.0
    assert shortfall(asks, [{"CPU": 3.0}]) is None
    assert shortfall(asks, [{"CPU": 2.9999}]) is not None


# ---- the dry run ---------------------------------------------------------------------------------
def _dry_run(tmp_path, *options, trial_cpu=1):
    raw = tiny_sweep("dry", str(tmp_path / "store"))
    raw["resources"]["trial"]["cpu"] = trial_cpu
    return CliRunner().invoke(cli, ["sweep", "submit", str(write_sweep(tmp_path, raw)), "--dry-run", *options])


def test_the_dry_run_of_a_local_run_says_when_this_machine_is_too_small(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(fit, "this_machine", lambda: [{"CPU": 2.0, "GPU": 0.0}])
    result = _dry_run(tmp_path, trial_cpu=3)
    assert result.exit_code == 0, result.output
    assert ("warning: a run here would be refused: resources: one trial (3 CPU, 0 GPU) needs more than this "
            "machine has (2 CPU, 0 GPU) (resources.trial.cpu)") in result.output.splitlines()
    doc = json.loads(_dry_run(tmp_path, "--json", trial_cpu=3).output)
    assert doc["exceeds_this_machine"].startswith("resources: one trial (3 CPU, 0 GPU) needs more")
    fits = _dry_run(tmp_path, trial_cpu=1)
    assert fits.exit_code == 0 and "refused" not in fits.output
    assert json.loads(_dry_run(tmp_path, "--json").output)["exceeds_this_machine"] is None
    assert not (tmp_path / "store").exists()


def test_the_dry_run_of_a_run_on_a_cluster_does_not_judge_by_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # the trials run on that cluster's nodes
    monkeypatch.setattr(fit, "this_machine", lambda: [{"CPU": 2.0, "GPU": 0.0}])
    result = _dry_run(tmp_path, trial_cpu=3)
    assert result.exit_code == 0 and "refused" not in result.output, result.output


# ---- on a real Ray -----------------------------------------------------------------------------
def _asking(tmp_path, name, **resources):
    raw = tiny_sweep(name, str(tmp_path / "runs"), seeds=(0,), iterations=2, checkpoint_every=2)
    raw["evaluation"].update(kd=["off"], epochs=1)
    for section, values in resources.items():
        raw["resources"][section].update(values)
    return load_spec(write_sweep(tmp_path, raw))


@pytest.mark.timeout(300)  # without the check the trial waits forever for a third CPU
def test_a_local_ray_too_small_is_refused_at_once_and_a_fixed_file_then_runs(tmp_path, ray_local):
    # ray_local declares 2 CPUs and this process started it: it cannot grow
    paths = SweepPaths.of(str(tmp_path / "runs"), "big")
    actors_before = ray.util.list_named_actors(all_namespaces=True)  # other tests' may outlive them
    started = time.monotonic()
    with pytest.raises(ClusterTooSmall) as refused:
        run_sweep(_asking(tmp_path, "big", trial={"cpu": 3}), echo=lambda line: None)
    assert time.monotonic() - started < 10
    assert str(refused.value) == (
        "resources: one trial (3 CPU, 0 GPU) needs more than this Ray cluster has (2 CPU, 0 GPU) "
        "(resources.trial.cpu); the local Ray started for this sweep cannot grow")
    # no dispatcher started, so no evaluator asked for
    assert ray.util.list_named_actors(all_namespaces=True) == actors_before
    assert not any(p.is_file() for p in Path(paths.root).rglob("*"))  # no lease, no stored spec
    outcome = run_sweep(_asking(tmp_path, "big", trial={"cpu": 1}), echo=lambda line: None)
    assert outcome.complete and len(load_results(outcome.results)) == 1


def test_an_attached_cluster_that_may_grow_gets_a_warning(ray_local, monkeypatch):
    lines = []
    monkeypatch.setattr(fit, "_started_here", lambda: False)
    monkeypatch.setattr(fit, "_without_autoscaler", lambda: False)  # as on a cluster with a cluster.yaml
    fit.check_cluster(ResourceSpec(evaluators=4, evaluator_cpu=1), lines.append)
    assert lines == [
        "warning: resources: the 4 evaluators (1 CPU, 0 GPU each) and one trial (1 CPU, 0 GPU) need 5 CPUs; "
        "this Ray cluster has 2 (resources.evaluators.count, resources.evaluators.cpu or resources.trial.cpu); "
        "the sweep waits until the cluster adds such nodes (an autoscaler may; if none will, stop it and "
        "change the file)"]


ATTACHED = """
import ray
from raydd.spec import ResourceSpec
from raydd.sweep import fit
ray.init(address=%r, logging_level="ERROR")
print("started here" if fit._started_here() else "attached")
try:
    fit.check_cluster(ResourceSpec(trial_cpu=3), print)
except fit.ClusterTooSmall as err:
    print(err)
"""


@pytest.mark.timeout(200)
def test_a_process_attached_to_a_cluster_without_autoscaler_is_refused(ray_local):
    # ray_local was started by this test process (its own, cannot grow); another process attached to
    # it finds Ray's read-only autoscaler there, so a sweep too big for it is refused there too
    assert fit._started_here()
    program = ATTACHED % ray.get_runtime_context().gcs_address
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-2:] == [
        "attached",
        "resources: one trial (3 CPU, 0 GPU) needs more than this Ray cluster has (2 CPU, 0 GPU) "
        "(resources.trial.cpu); this Ray cluster has no autoscaler to add nodes"]


def test_only_the_read_only_autoscalers_status_says_a_cluster_cannot_grow():
    def status(mapping):
        return json.dumps({"autoscaler_report": {"node_type_mapping": mapping, "legacy": True}})

    assert read_only_autoscaler(status({"4767d4": "node_4767d4", "98ab01": "node_98ab01"}).encode())
    assert not read_only_autoscaler(status({"4767d4": "ray.head.default", "98ab01": "gpu_workers"}))
    assert not read_only_autoscaler(status({"4767d4": "node_4767d4", "98ab01": "gpu_workers"}))
    for unknown in (None, b"", b"not json", json.dumps({"time": 1.0}), status(None), status({})):
        assert not read_only_autoscaler(unknown)


def test_a_head_that_has_not_published_its_status_yet_is_waited_for_then_not_guessed(monkeypatch):
    import ray.experimental.internal_kv as internal_kv

    read_only = json.dumps({"autoscaler_report": {"node_type_mapping": {"ab12": "node_ab12"}}}).encode()
    answers = [None, None, read_only]
    monkeypatch.setattr(internal_kv, "_internal_kv_get", lambda key: answers.pop(0) if answers else read_only)
    assert fit._without_autoscaler() and not answers  # asked until the status came
    monkeypatch.setattr(internal_kv, "_internal_kv_get", lambda key: None)
    monkeypatch.setattr(fit, "STATUS_WAIT_S", 1.5)
    started = time.monotonic()
    assert not fit._without_autoscaler()  # none within the wait: it may autoscale, so only a warning
    assert time.monotonic() - started < 5


@pytest.mark.timeout(200)
def test_submit_on_this_machine_refuses_in_one_line_before_a_trial(tmp_path):
    # no RAY_ADDRESS: raydd starts a local Ray with this machine's cores, which no file can exceed
    raw = tiny_sweep("huge", str(tmp_path / "runs"))
    raw["resources"]["trial"]["cpu"] = 10_000
    spec_path = write_sweep(tmp_path, raw)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run([str(Path(sys.executable).parent / "raydd"), "sweep", "submit", str(spec_path)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("Error: resources: one trial (10000 CPU, 0 GPU) needs more than this Ray cluster "
                                f"has ({os.cpu_count()} CPU, ")
    assert errors[0].endswith("(resources.trial.cpu); the local Ray started for this sweep cannot grow")
    assert "Traceback" not in done.stderr and "[trial" not in done.stdout
    assert not any(p.is_file() for p in (tmp_path / "runs").rglob("*"))
