"""Evaluation results to the trackers: each set's rows reach the run of the trial that distilled it.

The dispatcher says which sets have every queued job finished (`take_finished_sets`); the driver,
which knows where each trial's tracker run is, reads those sets' rows from the results directory
and logs them (during the trials through `EvaluationTracking`, a Tune callback, and while it waits
for the last evaluations). Per set:

- each row's test accuracy as `eval/[<eval key>/]<student>/kd_<off|on>/seed_<s>`, the mean over
  the seeds as `.../mean` (step 0: each is logged once);
- the set's summary table (per student, mean ± std over seeds, KD off/on) as text.

Where each tracker's run is:

- TensorBoard: a new event file in the trial's own directory under `<sweep>/tune` (the directory
  whose `params.json` holds the trial's config); a set without a trial (a baseline) gets
  `<sweep>/tune/<set key>`.
- MLflow: the run Ray's MLflow logger made for the trial (tag `trial_name` = the trial key) in the
  sweep's experiment; where there is none, a run named after the set is started there.
- W&B: the trial's run resumed by its id (Tune's trial id, which Ray's W&B logger gives the run);
  where the id is not known, a run named after the set in the sweep's group.

A tracker that fails warns once on stderr and is not tried again; the rows are on storage before
any of this, and logging never writes there.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import ray
from ray.tune import Callback

from raydd import storage
from raydd.kd_words import kd_word
from raydd.spec.search import MlflowSpec, TrackingSpec, WandbSpec
from raydd.stats import SPREAD_NOTE, mean_std
from raydd.sweep.tracking import allow_file_store, wandb_dir
from raydd.sweep.trial import trial_key

POLL_S = 10.0  # how often the driver asks the dispatcher for finished sets during the trials
SUMMARY_TAG = "eval/summary"


# ---- what is logged ------------------------------------------------------------------------------
def _prefix(row) -> str:
    setting = f"{row.eval_key}/" if isinstance(row.eval_key, str) and row.eval_key else ""
    return f"eval/{setting}{row.student}/kd_{kd_word(bool(row.kd))}"


def set_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Every seed's test accuracy and each (setting, student, kd)'s mean over its seeds."""
    metrics, groups = {}, {}
    for row in rows.itertuples():
        metrics[f"{_prefix(row)}/seed_{int(row.eval_seed)}"] = float(row.test_acc)
        groups.setdefault(_prefix(row), []).append(float(row.test_acc))
    metrics.update({f"{prefix}/mean": mean_std(values).mean for prefix, values in groups.items()})
    return metrics


def summary_table(set_key: str, rows: pd.DataFrame) -> str:
    """The set's table in Markdown: one line per (setting, student), KD off and on as columns."""
    kds = sorted({bool(k) for k in rows["kd"]})
    lines = [f"**{set_key}**: test accuracy in %, mean ± std (n) over evaluation seeds; {SPREAD_NOTE}", "",
             "| setting | student | " + " | ".join(f"kd {kd_word(kd)}" for kd in kds) + " |",
             "|---|---|" + "---|" * len(kds)]
    settings = rows["eval_key"].fillna("").astype(str)
    for (setting, student), group in rows.groupby([settings, rows["student"]], sort=False):
        cells = []
        for kd in kds:
            stats = mean_std(group.loc[group["kd"] == kd, "test_acc"])
            cells.append("-" if stats.n == 0 else f"{100 * stats.mean:.2f} ± {100 * stats.std:.2f} ({stats.n})")
        lines.append(f"| {setting or '-'} | {student} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- where each trial's run is -------------------------------------------------------------------
@dataclass(frozen=True)
class TrialRun:
    directory: str  # the trial's directory under the Tune experiment
    trial_id: str | None  # Tune's id (W&B's run id); None before the trial reported anything


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


# ---- the trackers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetResults:
    key: str  # the set's trial key
    rows: pd.DataFrame
    run: TrialRun | None  # its trial's run; None for a set without one (a baseline)

    @property
    def metrics(self) -> dict[str, float]:
        return set_metrics(self.rows)

    @property
    def table(self) -> str:
        return summary_table(self.key, self.rows)


def log_tensorboard(results: SetResults, tune_root: str) -> None:
    """A new event file in the trial's directory, written locally then copied (storage may be remote)."""
    from tensorboardX import SummaryWriter

    target = results.run.directory if results.run else storage.join(tune_root, results.key)
    with tempfile.TemporaryDirectory() as local:
        writer = SummaryWriter(local, filename_suffix=".eval")
        for tag, value in results.metrics.items():
            writer.add_scalar(tag, value, global_step=0)
        writer.add_text(SUMMARY_TAG, results.table, global_step=0)
        writer.close()
        for event_file in Path(local).iterdir():
            storage.write_bytes(storage.join(target, event_file.name), event_file.read_bytes())


def log_mlflow(results: SetResults, spec: MlflowSpec, sweep: str) -> None:
    """Into the trial's run (found by its `trial_name` tag), or a run named after the set."""
    from mlflow.tracking import MlflowClient

    allow_file_store(spec.tracking_uri)
    client = MlflowClient(spec.tracking_uri)
    name = spec.experiment or sweep
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    runs = client.search_runs([experiment_id], filter_string=f"tags.trial_name = '{results.key}'", max_results=1)
    run_id = runs[0].info.run_id if runs else client.create_run(
        experiment_id, run_name=results.key, tags={"trial_name": results.key, "sweep": sweep}).info.run_id
    for tag, value in results.metrics.items():
        client.log_metric(run_id, tag, value, step=0)
    client.log_text(run_id, results.table, f"{SUMMARY_TAG}.md")


def log_wandb(results: SetResults, spec: WandbSpec, sweep: str) -> None:
    """Into the trial's run resumed by its id, or a run named after the set."""
    import wandb

    trial_id = results.run.trial_id if results.run else None
    directory = wandb_dir(spec)
    run = wandb.init(project=spec.project, group=sweep, mode=spec.mode, name=results.key, reinit="create_new",
                     **({"id": trial_id, "resume": "allow"} if trial_id else {}),
                     **({"dir": directory} if directory else {}))
    try:
        run.log({**results.metrics, SUMMARY_TAG: wandb.Html(f"<pre>{results.table}</pre>")})
    finally:
        run.finish()


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
