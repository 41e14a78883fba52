"""Sweeps on a local Ray: complete rows, trial and evaluator crashes, stop and resume, status."""

from __future__ import annotations

import re
import threading
import time

import pytest
import torch
from click.testing import CliRunner
from fault_injection import armed
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep

from raydd import storage
from raydd.spec import load_spec
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import load_results, request_stop, resume_sweep, run_sweep, sweep_status

pytestmark = pytest.mark.usefixtures("ray_local")


def _spec(tmp_path, name, **kw):
    return load_spec(write_sweep(tmp_path, tiny_sweep(name, str(tmp_path / "runs"), **kw)))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, ray_local):
    """One uninterrupted two-trial sweep, shared by the tests that compare against it."""
    tmp_path = tmp_path_factory.mktemp("baseline")
    spec = _spec(tmp_path, "base")
    outcome = run_sweep(spec, echo=lambda line: None)
    return spec, outcome, load_results(outcome.results)


def test_tiny_sweep_ends_with_exactly_the_expected_rows(baseline):
    spec, outcome, df = baseline
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    keys = row_keys(df)
    assert len(keys) == len(set(keys)) == 4
    assert set(keys) == expected_keys(spec)
    assert set(df["sweep"]) == {"base"} and set(df["iterations"]) == {4}
    assert df["test_acc"].between(0, 1).all()
    kd_rows = df[df["kd"]]
    assert set(kd_rows["teacher"]) == {"ConvNetW32"} and set(kd_rows["temperature"]) == {2.0}
    # one teacher per (set, eval seed), saved beside the set
    for p in spec.points:
        assert storage.exists(outcome.root + f"/synsets/{p.trial_key}/teachers/seed0.pt")


def test_status_of_a_finished_sweep(baseline):
    spec, outcome, _ = baseline
    s = sweep_status("base", str(outcome.root).rsplit("/", 1)[0])
    assert s.counts == {"done": 2, "running": 0, "failed": 0, "pending": 0}
    assert (s.evaluations_done, s.evaluations_pending) == (4, 0)

    from raydd.cli.sweep_cmd import sweep

    result = CliRunner().invoke(sweep, ["status", "base", "--storage", str(outcome.root).rsplit("/", 1)[0]])
    assert result.exit_code == 0, result.output
    assert "trials: 2 done, 0 running, 0 failed, 0 pending" in result.output
    assert "evaluations: 4 done, 0 pending (of 4)" in result.output


def test_crashed_trial_resumes_from_its_checkpoint(tmp_path, fault_plans):
    spec = _spec(tmp_path, "crash", seeds=(0,), iterations=4, checkpoint_every=2)
    # checkpoints at 2 and 4: a crash after 3 resumes at 2
    with armed(fault_plans, "trial_crash", tmp_path / "crashed", at=3) as marker:
        outcome = run_sweep(spec, echo=lambda line: None)
    assert marker.exists(), "the injected crash did not happen"
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    (metrics,) = outcome.trials.values()
    assert metrics["resumed_from"] == 2
    keys = row_keys(load_results(outcome.results))
    assert sorted(keys) == sorted(expected_keys(spec))


def test_evaluator_killed_mid_job_loses_and_doubles_no_row(tmp_path, fault_plans):
    spec = _spec(tmp_path, "evalcrash", seeds=(0,))
    with armed(fault_plans, "evaluator_death", tmp_path / "evaluator-died") as marker:
        outcome = run_sweep(spec, echo=lambda line: None)
    assert marker.exists(), "the injected evaluator death did not happen"
    assert outcome.complete, outcome.evaluations
    keys = row_keys(load_results(outcome.results))
    assert sorted(keys) == sorted(expected_keys(spec))


def _stop_after_first_trial(storage_root: str, name: str) -> threading.Thread:
    trials = SweepPaths.of(storage_root, name).trials

    def watch():
        deadline = time.monotonic() + 300
        while not storage.list_names(trials) and time.monotonic() < deadline:
            time.sleep(0.2)
        request_stop(name, storage_root)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_stopped_then_resumed_sweep_matches_an_uninterrupted_one(tmp_path, baseline):
    base_spec, _, base_df = baseline
    storage_root = str(tmp_path / "runs")
    # the same grid as the baseline, one trial at a time so that the stop lands between trials
    spec = _spec(tmp_path, "interrupted", max_concurrent_trials=1)
    _stop_after_first_trial(storage_root, "interrupted")
    first = run_sweep(spec, echo=lambda line: None)
    assert first.stopped and not first.complete
    assert sweep_status("interrupted", storage_root).counts["done"] < len(spec.points)

    second = resume_sweep("interrupted", storage_root, echo=lambda line: None)  # from spec.yaml
    assert second.complete, (second.trial_errors, second.evaluations)
    df = load_results(second.results)
    assert len(row_keys(df)) == len(set(row_keys(df))) == len(base_df)
    # same grid, so the same trial keys; distillation and evaluation are seeded on CPU
    assert _accuracies(df) == _accuracies(base_df)


def test_a_stop_during_the_evaluations_is_honoured(tmp_path):
    """A stop requested once the trials are done, while the driver waits for the evaluations (it
    waited for all of them): it drains the dispatcher (running jobs finish, queued ones are
    dropped) and says the sweep stopped. A dispatcher that never finishes on its own stands for
    evaluations still to run, so the only way out is the stop."""
    import asyncio

    import ray

    from raydd.spec.search import TrackingSpec
    from raydd.sweep.eval_tracking import EvalResultLogger
    from raydd.sweep.runner import _wait_for_evaluations

    @ray.remote
    class Unfinished:
        def __init__(self) -> None:
            self.drained = False

        async def wait_all(self) -> dict:
            while not self.drained:
                await asyncio.sleep(0.05)
            return {"finished": 1, "queued": 3}

        async def drain(self) -> dict:
            self.drained = True
            return {"finished": 1, "queued": 3, "dropped": 2}

        async def status(self) -> dict:
            return {"finished": 1, "queued": 3, "running": 1}

    stop_request = tmp_path / "STOP"
    threading.Timer(2.0, stop_request.write_text, args=("stop\n",)).start()
    lines = []
    untracked = EvalResultLogger(TrackingSpec(tensorboard=False), "s", str(tmp_path), str(tmp_path), [])
    status, stopped = _wait_for_evaluations(Unfinished.remote(), lines.append, str(stop_request), untracked)
    assert stopped and status["dropped"] == 2
    assert lines == ["[sweep] stop requested: finishing running evaluations, dropping queued ones"]


def test_the_wait_for_evaluations_prints_its_eta(tmp_path, monkeypatch):
    """Progress lines while the driver waits carry the ETA of the jobs left, at the rate of this
    wait (the job finished during the trials does not count)."""
    import asyncio

    import ray

    import raydd.sweep.runner as runner
    from raydd.spec.search import TrackingSpec
    from raydd.sweep.eval_tracking import EvalResultLogger

    @ray.remote
    class Finishing:
        def __init__(self) -> None:
            self.calls = 0

        async def wait_all(self) -> dict:
            await asyncio.sleep(3.0)
            return {"finished": 5, "queued": 5}

        async def status(self) -> dict:
            self.calls += 1  # one job more per look; the first look finds the one of the trials
            return {"finished": min(self.calls, 5), "queued": 5, "running": 1}

    monkeypatch.setattr(runner, "WAIT_REPORT_S", 0.5)
    lines = []
    untracked = EvalResultLogger(TrackingSpec(tensorboard=False), "s", str(tmp_path), str(tmp_path), [])
    runner._wait_for_evaluations(Finishing.remote(), lines.append, str(tmp_path / "STOP"), untracked)
    assert lines and all(re.search(r" running, eta (\?|0s|\d+s)$", line) for line in lines), lines
    assert lines[0].startswith("[eval] 2/5 evaluation jobs finished") and "eta 0s" not in lines[0]


def test_the_wait_for_evaluations_prints_only_changes_and_a_heartbeat(tmp_path, monkeypatch):
    """While no job starts or finishes the driver stays quiet but for a heartbeat: looks every
    0.2 s for ~2.4 s with one change (after the third look) give two lines, not twelve."""
    import asyncio

    import ray

    import raydd.sweep.runner as runner
    from raydd.spec.search import TrackingSpec
    from raydd.sweep.eval_tracking import EvalResultLogger

    @ray.remote
    class Slow:
        def __init__(self) -> None:
            self.calls = 0

        async def wait_all(self) -> dict:
            await asyncio.sleep(2.5)
            return {"finished": 2, "queued": 4}

        async def status(self) -> dict:
            self.calls += 1  # the first call is the wait's starting point, not a look
            return {"finished": 1 if self.calls <= 4 else 2, "queued": 4, "running": 2}

    monkeypatch.setattr(runner, "WAIT_REPORT_S", 0.2)
    monkeypatch.setattr(runner, "STOP_CHECK_S", 0.05)
    monkeypatch.setattr(runner, "WAIT_HEARTBEAT_S", 60.0)
    lines = []
    untracked = EvalResultLogger(TrackingSpec(tensorboard=False), "s", str(tmp_path), str(tmp_path), [])
    runner._wait_for_evaluations(Slow.remote(), lines.append, str(tmp_path / "STOP"), untracked)
    assert [line.split(",")[0] for line in lines] == ["[eval] 1/4 evaluation jobs finished",
                                                      "[eval] 2/4 evaluation jobs finished"], lines

    monkeypatch.setattr(runner, "WAIT_HEARTBEAT_S", 0.0)  # a heartbeat at every look: all of them print
    lines = []
    runner._wait_for_evaluations(Slow.remote(), lines.append, str(tmp_path / "STOP"), untracked)
    assert len(lines) >= 5, lines


def _accuracies(df) -> dict[tuple, float]:
    return {key: round(acc, 6) for key, acc in zip(row_keys(df), df["test_acc"])}


def test_a_random_real_baseline_is_evaluated_beside_the_distilled_set(tmp_path):
    from raydd.core.datasets import load_dataset
    from raydd.core.evaluate import random_real
    from raydd.sweep.artifacts import load_synset_from

    raw = {**tiny_sweep("withbase", str(tmp_path / "runs"), seeds=(0,)), "baselines": ["random_real"]}
    spec = load_spec(write_sweep(tmp_path, raw))
    lines = []
    outcome = run_sweep(spec, echo=lines.append)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    df = load_results(outcome.results)
    assert sorted(row_keys(df)) == sorted(expected_keys(spec)) and len(df) == 4
    base = df[df["method"] == "random_real"]
    assert set(base["trial_key"]) == {"random_real-ipc1-seed0"} and set(base["kd"]) == {False, True}
    assert set(base["pool_name"]) == {"-"} and set(base["iterations"]) == {0} and base["pool_main_weight"].isna().all()
    assert any("drew 1 baseline set(s)" in line for line in lines)
    # the stored set is exactly the seeded draw from the training split
    images, labels = random_real(load_dataset("digits"), 1, 0)
    stored = load_synset_from(base["synset_uri"].iloc[0])
    assert torch.equal(stored.images, images) and torch.equal(stored.labels, labels)
    s = sweep_status("withbase", str(tmp_path / "runs"))
    assert (s.evaluations_done, s.evaluations_pending) == (4, 0) and s.counts["done"] == 1

    from raydd.cli.results_cmd import results

    shown = CliRunner().invoke(results, ["show", outcome.results])
    assert shown.exit_code == 0, shown.output
    assert "random_real" in shown.output and "dc" in shown.output


def test_the_seeds_of_a_student_that_stacks_are_trained_in_one_call(tmp_path):
    raw = tiny_sweep("stacked", str(tmp_path / "runs"), seeds=(0,), students=("MLP",))
    raw["evaluation"].update(seeds=3, teacher="MLP")  # an MLP teacher stacks too: its seeds in one call
    spec = load_spec(write_sweep(tmp_path, raw))
    outcome = run_sweep(spec, echo=lambda line: None)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    df = load_results(outcome.results)
    assert sorted(row_keys(df)) == sorted(expected_keys(spec)) and len(df) == 6
    # MLP stacks on CPU (raydd.core.evaluate.speed): a stack's members share its time equally,
    # which trainings one after another, each timed alone, would not
    for kd, rows in df.groupby("kd"):
        assert rows["train_seconds"].nunique() == 1, (kd, rows["train_seconds"].tolist())
    assert set(df[df["kd"]]["teacher"]) == {"MLP"}
    for seed in range(3):
        assert storage.exists(outcome.root + f"/synsets/{spec.points[0].trial_key}/teachers/seed{seed}.pt")
