"""A sweep's status as plain values: its state in one word and the documents that
`raydd sweep status|list|best --json` print (keys in docs/sweep-format.md)."""

from __future__ import annotations

import json
import math

from raydd import storage
from raydd.spec import name_problem
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import SweepStatus, stored_overrides, sweep_status

# What `sweep list` shows of each sweep: the first keys of `status_dict`
SUMMARY_KEYS = ("name", "root", "state", "trials_done", "trials_total", "evaluations_done", "evaluations_total")
UNFINISHED = ("pending", "running", "failed")


def sweep_state(s: SweepStatus) -> str:
    """running (a live driver holds it) | complete (every planned trial finished, every evaluation
    written) | failed (a trial failed) | stopped (a stop was requested) | incomplete (interrupted or
    not yet started: `raydd sweep resume` continues it)."""
    if s.driver_alive:
        return "running"
    finished = len(s.trials) == s.planned_trials and not any(s.counts.get(state) for state in UNFINISHED)
    if finished and s.evaluations_pending == 0 and not s.bad_results:
        return "complete"
    if s.counts.get("failed"):
        return "failed"
    return "stopped" if s.stop_requested else "incomplete"


def status_dict(s: SweepStatus) -> dict:
    return {"name": s.name, "root": s.root, "state": sweep_state(s),
            "trials_done": s.counts.get("done", 0), "trials_total": s.planned_trials,
            "evaluations_done": s.evaluations_done, "evaluations_total": s.evaluations_total,
            "trial_counts": dict(s.counts), "trials": dict(s.trials),
            "searched": [searched_dict(t) for t in s.searched],
            "bad_results": dict(s.bad_results), "driver": s.driver, "stop_requested": s.stop_requested,
            "ray_job": json.loads(s.job).get("job_id") if s.job else None,
            "overrides": stored_overrides(SweepPaths(s.root))}


def searched_dict(trial) -> dict:
    return {"trial_key": trial.point.trial_key, "state": trial.state, "iteration": trial.iteration,
            "objective": finite_or_none(trial.objective), "sampled": trial.sampled}


def finite_or_none(value) -> float | None:
    """JSON has no NaN: a missing or non-finite number is null."""
    return None if value is None or not math.isfinite(value) else float(value)


def sweep_names(root: str) -> list[str]:
    """The sweeps under a storage root: its folders that hold a stored sweep file."""
    if not storage.exists(root):
        raise FileNotFoundError(f"no storage at {root}: nothing has run there (give the root with --storage)")
    return [name for name in storage.list_names(root)
            if name_problem(name) is None and storage.exists(SweepPaths.of(root, name).spec)]


def list_dict(root: str, warn) -> dict:
    """Every sweep under `root`, summarised; one that cannot be read is listed `unreadable`, with
    why, and `warn` is told, so that one broken sweep hides none of the others."""
    sweeps = []
    for name in sweep_names(root):
        try:
            entry = status_dict(sweep_status(name, root))
        except (ValueError, OSError) as err:
            reason = " ".join(str(err).split())
            warn(f"warning: sweep {name} cannot be read: {reason}")
            sweeps.append({"name": name, "root": SweepPaths.of(root, name).root, "state": "unreadable",
                           "error": reason})
            continue
        sweeps.append({key: entry[key] for key in SUMMARY_KEYS})
    return {"storage": storage.absolute(root), "sweeps": sweeps}


def test_accuracies(rows, trial, spec) -> dict[str, float | None]:
    """KD word -> mean test accuracy of a trial's rows in that mode (over students and evaluation
    seeds); None where no row is written yet (or `rows` is None: nothing evaluated)."""
    from raydd.spec import kd_word

    mine = None if rows is None else rows[rows.trial_key == trial.point.trial_key]
    means = {}
    for kd in spec.evaluation.kd_modes:
        accuracies = None if mine is None else mine[mine.kd == kd].test_acc
        means[kd_word(kd)] = None if accuracies is None or accuracies.empty else finite_or_none(accuracies.mean())
    return means


def best_dict(spec, ranked_trials: list, shown: list, rows) -> dict:
    """`sweep best --json`: the search's metric, how many trials it ranked, and the `shown` best,
    best first, each with its test accuracies per KD mode (never used to rank)."""
    return {"name": spec.name, "metric": spec.search.metric, "mode": spec.search.mode,
            "ranked_trials": len(ranked_trials),
            "best": [{**searched_dict(t), "rank": rank, "test_acc": test_accuracies(rows, t, spec)}
                     for rank, t in enumerate(shown, start=1)]}
