"""The sweep driver as a user runs it, in its own process with its own local Ray: a second submit
while it runs, kill -9 then resume, SIGTERM then resume. Rows are counted before and after
(0 lost, 0 duplicated), and every process the driver started is gone once it is."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep

from raydd import storage
from raydd.spec import load_spec
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import load_results, resume_sweep
from raydd.sweep.watchdog import process_tree, still_running

pytestmark = pytest.mark.usefixtures("ray_local")
RAYDD = str(Path(sys.executable).with_name("raydd"))


def start_driver(spec_path: Path, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "driver.log", "w")
    return subprocess.Popen([RAYDD, "sweep", "submit", str(spec_path)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)


def wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the driver ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.5)


def wait_until_gone(tree: dict[int, str], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while still_running(tree) and time.monotonic() < deadline:
        time.sleep(0.5)
    return still_running(tree)


def rows_now(paths: SweepPaths) -> dict[tuple, float]:
    if not storage.list_names(paths.results):
        return {}
    df = load_results(paths.results)
    assert len(row_keys(df)) == len(set(row_keys(df)))
    return dict(zip(row_keys(df), df["test_acc"]))


def first_trial_done(paths: SweepPaths):
    return lambda: bool(storage.list_names(paths.trials))


@pytest.fixture
def sweep_file(tmp_path):
    # three trials one after the other: a fault after the first leaves two to go. 16 iterations
    # (~3 s a trial on a 2-core CPU) so those two outlast the test's look at the first row on a
    # fast machine: with 4 (~0.7 s) a CI run once found all six rows written before it looked.
    raw = tiny_sweep("driven", str(tmp_path / "runs"), seeds=(0, 1, 2), iterations=16,
                     max_concurrent_trials=1)
    path = write_sweep(tmp_path, raw)
    return path, load_spec(path), SweepPaths.of(str(tmp_path / "runs"), "driven")


def test_kill_9_of_the_driver_leaves_no_process_and_resume_loses_and_doubles_nothing(
        tmp_path, sweep_file, monkeypatch):
    import ray

    from raydd.cli.main import cli

    path, spec, paths = sweep_file
    driver = start_driver(path, tmp_path)
    try:
        wait_for(lambda: storage.exists(paths.lease), "lease", driver)
        # a second submit of the same sweep, meanwhile: refused before it starts Ray
        with monkeypatch.context() as patch:
            patch.setattr(ray, "init", lambda *a, **k: pytest.fail("the second submit started Ray"))
            second = CliRunner().invoke(cli, ["sweep", "submit", str(path)])
        assert second.exit_code == 1 and f"is held by pid {driver.pid}" in second.output, second.output
        wait_for(lambda: bool(storage.list_names(paths.results)), "first result row", driver)
        tree = process_tree(driver.pid)
        before = rows_now(paths)
        assert len(before) < len(expected_keys(spec)) and storage.exists(paths.lease)  # still running
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        killed = time.monotonic()
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert len(tree) > 3, tree  # the driver, Ray's gcs_server and raylet, workers
    assert wait_until_gone(tree) == [], (Path(tmp_path / "driver.log").read_text()[-2000:])
    gone_after = time.monotonic() - killed

    left = storage.read_text(paths.lease) if storage.exists(paths.lease) else None
    said = []
    outcome = resume_sweep("driven", str(tmp_path / "runs"), echo=said.append)
    assert any(f"taking over the lease of pid {driver.pid}" in line and "no longer exists" in line
               for line in said), (left, said)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    after = rows_now(paths)
    assert set(after) == expected_keys(spec)  # 0 lost, and (rows_now checks) 0 duplicated
    assert {key: after[key] for key in before} == before  # rows written before the kill are kept as they were
    assert not storage.exists(paths.lease)
    print(f"kill -9 of the driver: {len(tree)} processes gone {gone_after:.1f} s after; rows {len(before)} before, {len(after)} after "
          f"resume ({len(expected_keys(spec))} expected, 0 duplicated)")


@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")],
                         ids=["sigterm", "sigint"])
def test_sigterm_or_ctrl_c_stops_the_driver_resumably_and_its_ray_with_it(tmp_path, sweep_file, signum, name):
    """SIGTERM, or SIGINT as Ctrl-C sends it (the driver exited 0 and printed the partial table as a
    finished sweep's, with Tune's `Tuner.restore(...)` as the way to continue)."""
    path, spec, paths = sweep_file
    driver = start_driver(path, tmp_path)
    try:
        wait_for(first_trial_done(paths), "finished trial", driver)
        tree = process_tree(driver.pid)
        driver.send_signal(signum)
        code = driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    log = (tmp_path / "driver.log").read_text()
    assert code == 128 + signum, log[-2000:]  # an interrupted sweep is not a finished one
    assert f"{name}: stopping resumably" in log
    said = re.search(rf"sweep driven interrupted \({name}\): (\d) of 3 trial\(s\) and (\d) of 6 evaluation\(s\) "
                     rf"done; continue with: raydd sweep resume driven --storage (\S+)\n", log)
    assert said, log[-2000:]
    assert "Traceback" not in log and "Tuner.restore" not in log and "mean ± std" not in log  # no table
    assert not storage.exists(paths.lease)
    assert wait_until_gone(tree) == []
    before = rows_now(paths)
    assert int(said[2]) == len(before) and said[3] == str(tmp_path / "runs") and int(said[1]) >= 1

    outcome = resume_sweep("driven", str(tmp_path / "runs"), echo=lambda line: None)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    after = rows_now(paths)
    assert set(after) == expected_keys(spec) and {key: after[key] for key in before} == before
    print(f"{name} of the driver: {len(tree)} processes gone; rows {len(before)} before, {len(after)} after "
          f"resume ({len(expected_keys(spec))} expected, 0 duplicated)")
