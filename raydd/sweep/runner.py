"""Run, resume, stop and inspect a sweep: Tune for the trials, the dispatcher for evaluation.

The sweep arrives parsed (a `SweepSpec`); nothing here parses it again except the copy stored
under the sweep root, read once by `resume`, `status`, and by a submit that reuses a name. Tune's
grid is the resolved points themselves, as plain values (`TrialPoint.to_dict()`): each trial
receives its own in its config, and Tune's results show every resolved setting.
`run_sweep` starts Ray itself (`connect_ray`, or the caller's `start_ray`) once the sweep is known
to be runnable, and must be called from the main thread for `raydd sweep stop` to reach it (see
StopRequestWatcher).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import ray
import yaml
from ray import tune

from raydd import storage, strict_json
from raydd.eta import Countdown
from raydd.spec import SweepSpec, load_spec_text
from raydd.spec.data import DataMode
from raydd.sweep import artifacts, baselines, fit, lease
from raydd.sweep.callbacks import StopRequestWatcher, TrialProgressPrinter
from raydd.sweep.context import SweepContext
from raydd.sweep.dispatcher import PoolResources, dispatcher_handle
from raydd.sweep.eval_tracking import EvalResultLogger, EvaluationTracking
from raydd.sweep.evaluation import MISSING, all_jobs, job_states, set_aside_bad_results
from raydd.sweep.experts_stage import run_expert_stage
from raydd.sweep.layout import SweepPaths
from raydd.sweep.search import Experiment, experiment_locations, experiments, searched_jobs, searched_trials
from raydd.sweep.tracking import loggers
from raydd.sweep.trial import SEARCHED, distill_trial, trial_key, trial_point

WAIT_REPORT_S = 15.0  # how often the driver looks at evaluation progress while it waits ...
WAIT_HEARTBEAT_S = 300.0  # ... printing it when a job started or finished, else this often at most
STOP_CHECK_S = 1.0  # how often it looks for a stop request meanwhile, as the trials' watcher does


class _DroppedLines(logging.Filter):
    """Drops a library's log lines that raydd says in its own words: those containing one of
    `containing`, or starting with one of `starting`."""

    def __init__(self, *, containing: tuple[str, ...] = (), starting: tuple[str, ...] = ()):
        super().__init__()
        self.containing, self.starting = containing, starting

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (any(part in message for part in self.containing) or message.startswith(self.starting))


# Tune's lines about an interrupted run name its API (`Tuner.restore(...)`) and its keys; raydd
# says how the sweep stops and continues (`raydd sweep resume`) instead.
logging.getLogger("ray.tune.tune").addFilter(_DroppedLines(containing=("Tuner.restore", "ending Ray Tune run")))
# Reading a sweep's Tune state, Tune warns, with a path, of every trial that never reported (one
# still pending when the sweep stopped); raydd's status shows such a trial as pending.
logging.getLogger("ray.tune.analysis.experiment_analysis").addFilter(
    _DroppedLines(starting=("Failed to fetch metrics for",))
)


@dataclass(frozen=True)
class SweepOutcome:
    name: str
    root: str
    trials: dict[str, dict]  # trial key -> its last reported metrics
    trial_errors: dict[str, str]
    evaluations: dict  # the dispatcher's final status
    stopped: bool
    seconds: float

    @property
    def results(self) -> str:
        return SweepPaths(self.root).results

    @property
    def complete(self) -> bool:
        return not self.stopped and not self.trial_errors and not self.evaluations.get("failed")


# ---- spec on storage ---------------------------------------------------------------------------
def store_spec(spec: SweepSpec, paths: SweepPaths) -> None:
    """Keep the sweep file under the sweep root, so status/resume need only name and storage: the
    effective one (its `key.path=value` overrides put in), and beside it the overrides as given."""
    source = dict(spec.source)
    source["storage"] = spec.storage
    if spec.experts_storage:  # as resolved where the sweep was submitted, as `storage` is
        source["experts_storage"] = spec.experts_root
    storage.write_text(paths.spec, yaml.safe_dump(source, sort_keys=False))
    # written on every store, an empty list too, so a later submit's record replaces an earlier one's
    storage.write_text(paths.overrides, strict_json.dumps({"overrides": list(spec.overrides)}, indent=2) + "\n")


def stored_overrides(paths: SweepPaths) -> list[str]:
    """The overrides of the submit that stored the sweep ([] for a sweep stored before they were recorded)."""
    if not storage.exists(paths.overrides):
        return []
    try:
        recorded = strict_json.loads(storage.read_text(paths.overrides))["overrides"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        recorded = None
    if not isinstance(recorded, list) or not all(isinstance(text, str) for text in recorded):
        raise ValueError(f"{paths.overrides} is not a record of overrides "
                         '({"overrides": ["key.path=value", ...]})')
    return recorded


class SweepConflictError(ValueError):
    """A sweep name under this storage already holds another experiment."""


def check_same_experiment(spec: SweepSpec, paths: SweepPaths) -> None:
    """Refuse to run `spec` under a name whose stored sweep describes another experiment.

    Synthetic sets and rows already on storage are reused by name (that is what makes a repeated
    submit cheap), so a changed grid or protocol under an old name would mix two experiments in
    one results directory.
    """
    if not storage.exists(paths.spec):
        return
    stored = load_stored_spec(spec.name, spec.storage, data="skip")
    if stored.experiment_hash() != spec.experiment_hash():
        raise SweepConflictError(
            f"sweep {spec.name!r} already exists at {paths.root} with a different experiment "
            f"(grid, dataset or evaluation); give this one a new name, or continue the stored one "
            f"with `raydd sweep resume {spec.name} --storage {spec.storage}`")


def load_stored_spec(name: str, storage_location: str, *, data: DataMode = "if_present") -> SweepSpec:
    """The sweep stored under `storage_location`/`name`; its problems name the stored file.
    `data`: how hard to try to check it against its dataset (`raydd.spec.data`)."""
    paths = SweepPaths.of(storage_location, name)
    if not storage.exists(paths.spec):
        raise FileNotFoundError(f"no sweep {name!r} under {storage_location} ({paths.spec} is missing)")
    return load_spec_text(storage.read_text(paths.spec), paths.spec, storage=storage.absolute(storage_location),
                          data=data)


# ---- Tune --------------------------------------------------------------------------------------
def _trainable(spec: SweepSpec, context: SweepContext):
    r = spec.resources
    return tune.with_resources(tune.with_parameters(distill_trial, context=context),
                               {"cpu": r.trial_cpu, "gpu": r.trial_gpu})


def _tuner(spec: SweepSpec, context: SweepContext, resume: bool, echo, experiment: Experiment,
           eval_logger: EvalResultLogger) -> tune.Tuner:
    paths = context.paths
    fs, tune_path = storage.filesystem_for(experiment.location)
    root, name = tune_path.rsplit("/", 1)  # Tune's storage_path and experiment name
    trainable = _trainable(spec, context)
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # raydd.sweep.tracking names every logger
    if resume and tune.Tuner.can_restore(tune_path, storage_filesystem=fs):
        return tune.Tuner.restore(tune_path, trainable, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=fs)
    r = spec.resources
    # Tune's tables would drown the progress lines; TrialProgressPrinter says what matters
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    run_config = tune.RunConfig(
        name=name, storage_path=root, storage_filesystem=fs, verbose=0,
        failure_config=tune.FailureConfig(max_failures=r.max_failures),
        callbacks=[TrialProgressPrinter(echo), StopRequestWatcher(paths.stop_request),
                   *loggers(spec.tracking, spec.name), EvaluationTracking(eval_logger, context.namespace)],
    )
    return tune.Tuner(trainable, param_space=experiment.param_space, tune_config=experiment.tune_config,
                      run_config=run_config)


def _fit(spec: SweepSpec, context: SweepContext, resume: bool, echo, eval_logger: EvalResultLogger) -> list:
    """Every experiment's results (a search: one per grid point, one after another, until a stop)."""
    results = []
    for experiment in experiments(spec, context.paths):
        if storage.exists(context.paths.stop_request):  # asked during the expert stage or the last experiment
            break
        results += list(_tuner(spec, context, resume, echo, experiment, eval_logger).fit())
    return results


def _searched_points(results, context: SweepContext) -> list:
    """The resolved points of the searched trials that distilled their set (not those ASHA stopped)."""
    return [trial_point(r.config, context) for r in _started(results)
            if SEARCHED in r.config and storage.exists(context.paths.trial_done(trial_key(r.config)))]


def _started(results) -> list:
    """The results of trials that started: a sweep stopped before a pending trial ran gets that
    trial's result with no config (Tune found nothing stored for it), and nothing to report."""
    return [r for r in results if r.config is not None]


def _trial_outcomes(results) -> tuple[dict[str, dict], dict[str, str]]:
    metrics, errors = {}, {}
    for result in _started(results):
        key = trial_key(result.config)
        metrics[key] = dict(result.metrics or {})
        if result.error is not None:
            errors[key] = f"{type(result.error).__name__}: {result.error}"
    return metrics, errors


# ---- evaluation ----------------------------------------------------------------------------------
def _dispatch_distilled(spec: SweepSpec, paths: SweepPaths, dispatcher, searched=()) -> int:
    """Hand over every set already on storage (after a resume some never were, or not fully)."""
    points = [p for p in (*spec.evaluated, *searched) if artifacts.synset_complete(paths.synset(p.trial_key))]
    return sum(ray.get([dispatcher.submit.remote(p) for p in points]))


def _eval_logger(spec: SweepSpec, paths: SweepPaths) -> EvalResultLogger:
    """What logs each finished set's rows to the trials' tracker runs (raydd.sweep.eval_tracking)."""
    return EvalResultLogger(spec.tracking, spec.name, paths.results, paths.tune, experiment_locations(spec, paths))


def _wait_for_evaluations(dispatcher, echo, stop_request: str, eval_logger: EvalResultLogger) -> tuple[dict, bool]:
    """(the dispatcher's final status, whether a stop was requested meanwhile: then running
    evaluations finish and queued ones are dropped, as during the trials); each set's rows go to
    the trackers as its evaluation finishes."""
    done_ref = dispatcher.wait_all.remote()
    last_look = last_print = time.monotonic()
    at_start = ray.get(dispatcher.status.remote())  # jobs finished during the trials: not this wait's rate
    countdown = Countdown(at_start["queued"] - at_start["finished"])
    printed = None
    while not ray.wait([done_ref], timeout=STOP_CHECK_S)[0]:
        if storage.exists(stop_request):
            echo("[sweep] stop requested: finishing running evaluations, dropping queued ones")
            return ray.get(dispatcher.drain.remote()), True
        if time.monotonic() - last_look >= WAIT_REPORT_S:
            last_look = time.monotonic()
            s = ray.get(dispatcher.status.remote())
            counts = (s["finished"], s["queued"], s["running"])
            eta = countdown.at(s["finished"] - at_start["finished"])
            # an hour of student training must not print 240 identical lines: a line when a job
            # started or finished, else one now and then to say the driver is alive
            if counts != printed or last_look - last_print >= WAIT_HEARTBEAT_S:
                printed, last_print = counts, last_look
                echo(f"[eval] {s['finished']}/{s['queued']} evaluation jobs finished, {s['running']} running, {eta}")
            eval_logger.log_finished(dispatcher)
    return ray.get(done_ref), False


def connect_ray() -> None:
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS / a running cluster if there is one, else a local instance


def run_sweep(spec: SweepSpec, *, resume: bool = False, echo=print,
              start_ray: Callable[[], None] = connect_ray) -> SweepOutcome:
    """Distill every grid point as a Tune trial and evaluate each set on the actor pool.

    Holds the sweep's lease throughout: a second driver of the same sweep is refused
    (`SweepLeaseHeld`) before it touches anything. A new run (`resume=False`) of a name whose
    stored sweep is another experiment is refused (`SweepConflictError`) before Ray starts;
    `resume=True` continues the sweep stored under the name, so `spec` is that stored one
    (`resume_sweep` reads it). Once Ray is up, a sweep it can never run is refused
    (`ClusterTooSmall`, `raydd.sweep.fit`) before the spec is stored or a trial asked for.
    """
    paths = SweepPaths.of(spec.storage, spec.name)
    with lease.hold(paths.lease, echo):
        if not resume:
            check_same_experiment(spec, paths)
        extra = f" + {len(spec.baselines)} baseline set(s)" if spec.baselines else ""
        extra += f", each evaluated under {len(spec.evaluation.grid)} settings" if spec.evaluation.grid else ""
        echo(f"sweep {spec.name}: {len(spec.points)} trial(s){extra} -> {paths.root}")
        start_ray()
        # before anything asks Ray for a slice, or is written
        fit.check_cluster(spec.resources, echo, trials=bool(spec.points))
        return _run(spec, paths, resume, echo)


def _run(spec: SweepSpec, paths: SweepPaths, resume: bool, echo) -> SweepOutcome:
    start = time.perf_counter()
    storage.delete(paths.stop_request)
    if not resume or not storage.exists(paths.spec):
        store_spec(spec, paths)
    context = SweepContext.of(spec, paths)
    states = job_states(all_jobs(spec), paths)  # the one look at every job's file before the run
    set_aside_bad_results(states, paths, echo)  # their jobs run again
    done = frozenset(name for name, state in states.items() if state is None)
    drawn = baselines.materialize(spec.baselines, context)
    if drawn:
        echo(f"[sweep] drew {drawn} baseline set(s): {', '.join(p.trial_key for p in spec.baselines)}")
    dispatcher = dispatcher_handle(context, PoolResources.of(spec.resources), done)
    eval_logger = _eval_logger(spec, paths)
    try:
        ray.get(dispatcher.ready.remote())
        ray.get([dispatcher.submit.remote(p) for p in spec.baselines])  # evaluated beside the trials
        run_expert_stage(spec, echo)  # the MTT points' experts, before the trials that load them
        results = _fit(spec, context, resume, echo, eval_logger) if spec.points else []  # baselines_only
        trials, errors = _trial_outcomes(results)
        stopped = storage.exists(paths.stop_request)
        if stopped:
            echo("[sweep] stop requested: finishing running evaluations, dropping queued ones")
            evaluations = ray.get(dispatcher.drain.remote())
        else:
            _dispatch_distilled(spec, paths, dispatcher, _searched_points(results, context))
            evaluations, stopped = _wait_for_evaluations(dispatcher, echo, paths.stop_request, eval_logger)
        eval_logger.log_finished(dispatcher)  # the sets finished since the last look
    finally:
        ray.kill(dispatcher)  # its evaluation actors go with it
    return SweepOutcome(spec.name, paths.root, trials, errors, evaluations, stopped,
                        time.perf_counter() - start)


def load_results(location: str):
    """The result rows under `location` (local or object store), as raydd.results.load gives them."""
    from raydd.results import load

    fs, path = storage.filesystem_for(location)
    return load(path, filesystem=fs)


def resume_sweep(name: str, storage_location: str, *, echo=print) -> SweepOutcome:
    return run_sweep(load_stored_spec(name, storage_location), resume=True, echo=echo)


def request_stop(name: str, storage_location: str) -> str:
    """Ask a running sweep to stop resumably; returns the request file's location."""
    paths = SweepPaths.of(storage_location, name)
    if not storage.exists(paths.spec):
        raise FileNotFoundError(f"no sweep {name!r} under {storage_location} ({paths.spec} is missing)")
    storage.write_text(paths.stop_request, f"stop requested at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    return paths.stop_request


# ---- status --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepStatus:
    name: str
    root: str
    trials: dict[str, str]  # trial key -> done | running | failed | pending (| stopped, searched)
    evaluations_total: int
    evaluations_done: int
    bad_results: dict[str, str]  # result file -> what is wrong with it (resume redoes its job)
    driver: str | None  # who holds the sweep's lease (a driver runs it), if anyone
    stop_requested: bool
    job: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    searched: tuple = ()  # a searched sweep's trials (raydd.sweep.search.SearchedTrial)
    planned_trials: int = 0  # the grid's points, or a search's samples of every grid point
    driver_alive: bool = False  # the lease's holder may still run the sweep (not gone)

    @property
    def evaluations_pending(self) -> int:
        return self.evaluations_total - self.evaluations_done


def _tune_states(paths: SweepPaths) -> dict[str, str]:
    """Trial key -> Tune's status (RUNNING, ERROR, TERMINATED, ...); empty before Tune started."""
    fs, tune_path = storage.filesystem_for(paths.tune)
    try:
        analysis = tune.ExperimentAnalysis(tune_path, storage_filesystem=fs)
    except Exception:  # no experiment state yet (or unreadable): markers alone decide
        return {}
    return {trial_key(t.config): t.status for t in analysis.trials}


def _trial_state(key: str, done: set[str], tune_states: dict[str, str]) -> str:
    if key in done:
        return "done"
    return {"ERROR": "failed", "RUNNING": "running", "PAUSED": "running"}.get(tune_states.get(key), "pending")


def sweep_status(name: str, storage_location: str) -> SweepStatus:
    spec = load_stored_spec(name, storage_location, data="skip")  # runs nothing: no dataset to read
    paths = SweepPaths.of(storage_location, name)
    done_trials = {n[: -len(".done")] for n in storage.list_names(paths.trials) if n.endswith(".done")}
    searched = tuple(searched_trials(spec, paths)) if spec.search else ()
    if spec.search:  # each grid point is searched: its trials are those its searcher sampled
        trials = {t.point.trial_key: t.state for t in searched}
        jobs = job_states(searched_jobs(spec, searched), paths)
    else:
        tune_states = _tune_states(paths)
        trials = {p.trial_key: _trial_state(p.trial_key, done_trials, tune_states) for p in spec.points}
        jobs = job_states(all_jobs(spec), paths)
    bad = {paths.result_file(n): state for n, state in jobs.items() if state not in (None, MISSING)}
    job = storage.read_text(paths.job_record).strip() if storage.exists(paths.job_record) else None
    states = ("done", "running", "failed", "pending", *(("stopped",) if spec.search else ()))
    counts = {s: sum(v == s for v in trials.values()) for s in states}
    holder = lease.read_holder(paths.lease)
    driver = None if holder is None else holder.describe() + (f"; gone: {holder.gone()}" if holder.gone() else "")
    planned = len(spec.points) * (spec.search.num_samples if spec.search else 1)
    return SweepStatus(name, paths.root, trials, len(jobs), sum(s is None for s in jobs.values()), bad,
                       driver, storage.exists(paths.stop_request), job, counts, searched, planned,
                       holder is not None and not holder.gone())
