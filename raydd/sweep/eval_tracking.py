"""Evaluation results to the trackers: each set's rows reach the run of the trial that distilled it.

The dispatcher says which sets have every queued job finished (`take_finished_sets`); the driver,
which knows where each trial's tracker run is, reads those sets' rows from the results directory
and hands them to every tracker the sweep's `tracking:` turns on (raydd.sweep.eval_trackers says
what each receives and where): during the trials through `EvaluationTracking`, a Tune callback,
and while it waits for the last evaluations. A trial's run is found from its Tune directory (the
one whose `params.json` holds its config, with its id in `result.json`), or, for a trial still
running, from what Tune says as it starts it.

A tracker that fails warns once on stderr and is not tried again; the rows are on storage before
any of this, and logging never writes there.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field

import ray
from ray.tune import Callback

from raydd import storage
from raydd.spec.search import TrackingSpec
from raydd.sweep.eval_trackers import SetResults, TrialRun, log_mlflow, log_tensorboard, log_wandb
from raydd.sweep.trial import trial_key

POLL_S = 10.0  # how often the driver asks the dispatcher for finished sets during the trials


# ---- where each trial's run is -------------------------------------------------------------------
def _first_line(location: str, chunk: int = 1 << 16) -> str:
    """The first line of a file, read no further (a trial's result.json grows by a line per report)."""
    fs, path = storage.filesystem_for(location)
    head = b""
    with fs.open_input_stream(path) as stream:
        while b"\n" not in head and (data := stream.read(chunk)):
            head += data
    return head.split(b"\n", 1)[0].decode()


def _trial_run(directory: str) -> tuple[str, TrialRun] | None:
    """(trial key, run) of a Tune trial directory, from the files Tune's JSON logger writes there."""
    params, results = storage.join(directory, "params.json"), storage.join(directory, "result.json")
    if not storage.exists(params):
        return None
    key = trial_key(json.loads(storage.read_text(params)))
    first = _first_line(results) if storage.exists(results) else ""
    return key, TrialRun(directory, json.loads(first).get("trial_id") if first.strip() else None)


def trial_runs(experiments: list[str]) -> dict[str, TrialRun]:
    """Trial key -> its run, for every trial directory directly under the experiment locations."""
    found = {}
    for experiment in experiments:
        for name in storage.list_names(experiment):
            entry = _trial_run(storage.join(experiment, name))
            if entry is not None:
                found[entry[0]] = entry[1]
    return found


@dataclass
class EvalResultLogger:
    """Logs finished sets' rows to every tracker the sweep's `tracking:` turns on (see the module)."""

    tracking: TrackingSpec
    sweep: str
    results: str  # the sweep's results directory
    tune_root: str  # <sweep>/tune
    experiments: list[str]  # the Tune experiments' locations (one per searched grid point)
    failed: set[str] = field(default_factory=set)  # trackers that failed once: warned, not tried again
    runs: dict[str, TrialRun] = field(default_factory=dict)  # the trials' runs found so far

    def _trackers(self) -> dict:
        on = {"TensorBoard": (lambda r: log_tensorboard(r, self.tune_root)) if self.tracking.tensorboard else None,
              "MLflow": (lambda r: log_mlflow(r, self.tracking.mlflow, self.sweep)) if self.tracking.mlflow else None,
              "W&B": (lambda r: log_wandb(r, self.tracking.wandb, self.sweep)) if self.tracking.wandb else None}
        return {name: log for name, log in on.items() if log is not None and name not in self.failed}

    def log_sets(self, keys: list[str]) -> int:
        """Log the rows of the sets `keys`; returns how many sets had rows to log."""
        trackers = self._trackers()
        if not keys or not trackers:
            return 0
        try:
            sets = self._read(keys)
        except Exception as err:  # noqa: BLE001 - unreadable rows or trial files: said, never fatal
            self._fail("any tracker", err, trackers)
            return 0
        for results in sets:
            self._log(results, trackers)
        return len(sets)

    def _read(self, keys: list[str]) -> list[SetResults]:
        """The sets among `keys` that have rows, each with its trial's run."""
        from raydd.results import load
        from raydd.results.store import ResultsError

        fs, path = storage.filesystem_for(self.results)
        try:
            rows = load(path, filesystem=fs, skip_bad=True)
        except ResultsError:  # no rows at all yet (every job of these sets failed): nothing to log
            return []
        rows = rows[rows["sweep"] == self.sweep]
        own = {key: rows[rows["trial_key"] == key] for key in keys}
        own = {key: frame for key, frame in own.items() if not frame.empty}
        if any(key not in self.runs for key in own):  # look again only for trials not found before
            self.runs.update(trial_runs(self.experiments))
        return [SetResults(key, frame, self.runs.get(key)) for key, frame in own.items()]

    def _log(self, results: SetResults, trackers: dict) -> None:
        for name, log in trackers.items():
            if name in self.failed:
                continue
            try:
                log(results)
            except Exception as err:  # noqa: BLE001 - a tracker must never cost a sweep its results
                self._fail(name, err, [name])

    def _fail(self, what: str, err: Exception, trackers) -> None:
        """Say once on stderr that `what` failed; `trackers` are not tried again."""
        self.failed.update(trackers)
        print(f"Warning: evaluation results are no longer logged to {what} ({type(err).__name__}: "
              f"{' '.join(str(err).split())}); the result rows are unaffected", file=sys.stderr, flush=True)

    def note_trial(self, trial) -> None:
        """Remember a running Tune trial's run: its files reach storage only when Tune syncs them,
        so a set finished before that would not find its trial's directory there."""
        parent, name = trial.path.rstrip("/").rsplit("/", 1)
        for experiment in self.experiments:
            if storage.filesystem_for(experiment)[1].rstrip("/") == parent:
                self.runs[trial_key(trial.config)] = TrialRun(storage.join(experiment, name), trial.trial_id)

    def log_finished(self, dispatcher) -> int:
        """Log every set the dispatcher reports finished since it was last asked."""
        if not self._trackers():  # none on, or all failed: the sets need not be asked for
            return 0
        return self.log_sets(ray.get(dispatcher.take_finished_sets.remote()))


class EvaluationTracking(Callback):
    """During the trials: every POLL_S seconds, log the sets whose evaluation finished meanwhile
    (into the runs of the trials it saw start)."""

    def __init__(self, logger: EvalResultLogger, namespace: str, every_s: float = POLL_S):
        self.logger, self.namespace, self.every_s = logger, namespace, every_s
        self.last = time.monotonic()

    def on_trial_start(self, iteration, trials, trial, **info):
        try:
            self.logger.note_trial(trial)
        except Exception:  # noqa: BLE001 - never fail Tune's loop: the trial's directory is found on storage later
            pass

    def on_step_begin(self, iteration, trials, **info):
        if time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        from raydd.sweep.dispatcher import DISPATCHER_NAME

        try:
            dispatcher = ray.get_actor(DISPATCHER_NAME, namespace=self.namespace)
            self.logger.log_finished(dispatcher)
        except Exception:  # noqa: BLE001 - never fail Tune's loop (no dispatcher, or a lost one): the
            return  # driver logs every finished set once the trials are done
