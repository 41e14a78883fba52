"""Faults for the sweep tests, injected into Ray's worker processes from the tests, not by raydd.

The `ray_local` fixture (tests/conftest.py) starts Ray with `install` as the runtime_env's
`worker_process_setup_hook`, bound to a directory of the test session. Each worker patches two
functions once, at its start; the patches do nothing until a test arms a fault (`armed`) by
writing its plan into that directory:

- "trial_crash" {"at": N}: a Tune trial raises once, right after iteration N, before reporting it
  (the patch wraps `ray.tune.report`, which every trial iteration calls with its metrics).
- "evaluator_death": an evaluation actor dies abruptly (`os._exit`, as a lost node or an OOM kill
  would) once, after training its student and before writing its rows (the patch wraps
  `raydd.sweep.evaluation.write_job_rows`).

"Once" is a marker file created with O_EXCL; the test asserts it exists (the fault happened).
"""

from __future__ import annotations

import functools
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def install(plan_dir: str) -> None:
    """Patch this worker so that armed faults fire (the worker setup hook calls it)."""
    import ray.tune

    import raydd.sweep.evaluation as evaluation

    ray.tune.report = _crashing_report(ray.tune.report, plan_dir)
    evaluation.write_job_rows = _dying_writer(evaluation.write_job_rows, plan_dir)


def _plan(plan_dir: str, fault: str) -> dict | None:
    path = Path(plan_dir, f"{fault}.json")
    return json.loads(path.read_text()) if path.exists() else None


def _first_time(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _crashing_report(report: Callable, plan_dir: str) -> Callable:
    @functools.wraps(report)
    def crashing_report(metrics, *args, **kwargs):
        plan = _plan(plan_dir, "trial_crash")
        if plan and metrics.get("iteration") == plan["at"] and not metrics.get("done") \
                and _first_time(plan["marker"]):
            raise RuntimeError(f"injected trial crash after iteration {plan['at']}")
        return report(metrics, *args, **kwargs)

    return crashing_report


def _dying_writer(write: Callable, plan_dir: str) -> Callable:
    @functools.wraps(write)
    def dying_writer(*args, **kwargs):
        plan = _plan(plan_dir, "evaluator_death")
        if plan and _first_time(plan["marker"]):
            os._exit(1)
        return write(*args, **kwargs)

    return dying_writer


@contextmanager
def armed(plan_dir: str, fault: str, marker: Path, **params) -> Iterator[Path]:
    """Arm `fault` for the block; yields the marker the fault creates when it fires."""
    path = Path(plan_dir, f"{fault}.json")
    path.write_text(json.dumps({"marker": str(marker), **params}))
    try:
        yield marker
    finally:
        path.unlink()
