"""A sweep's Tune experiments: the grid as one, or a search per grid point; the searched trials.

Without `search:` the whole grid is one Tune experiment, `<sweep>/tune`. With it, each grid point
(the outer loop; `base` when there is no grid) is its own experiment, `<sweep>/tune/<grid key>`,
searched by its own searcher: its trials sample `search.space` around that point (`SearchSpec`
-> Tune domains, searcher and ASHA scheduler here). `tensorboard --logdir <sweep>/tune` shows them
all; `tune.ExperimentAnalysis(<experiment>)` reads one, with the grid point (`point`) and the
sampled values (`search/<key>`) as config columns. `searched_trials` reads them back for
`raydd sweep status` and `raydd sweep best`: each trial's sampled values, objective and fate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray import tune

from raydd import storage
from raydd.spec import SweepSpec, TrialPoint
from raydd.spec.search import Domain, SearchSpec, resolve_sample
from raydd.sweep.evaluation import jobs_for
from raydd.sweep.layout import SweepPaths
from raydd.sweep.trial import SEARCHED, param_space, trial_key


@dataclass(frozen=True)
class Experiment:
    """One Tune experiment of a sweep: where it lives, what it samples, how it is run."""

    location: str
    param_space: dict
    tune_config: tune.TuneConfig


def experiment_locations(spec: SweepSpec, paths: SweepPaths) -> list[str]:
    """Where each Tune experiment of the sweep lives (its trials' directories are right under it)."""
    if spec.search is None:
        return [paths.tune]
    return [storage.join(paths.tune, point.trial_key) for point in spec.points]


def experiments(spec: SweepSpec, paths: SweepPaths) -> list[Experiment]:
    concurrent = spec.resources.max_concurrent_trials
    locations = experiment_locations(spec, paths)
    if spec.search is None:
        return [Experiment(locations[0], param_space(spec.points),
                           tune.TuneConfig(reuse_actors=True, max_concurrent_trials=concurrent,
                                           trial_name_creator=trial_name))]
    return [Experiment(location, {"point": point.to_dict(), SEARCHED: tune_space(spec.search)},
                       _search_config(spec.search, point.config.iterations, concurrent))
            for location, point in zip(locations, spec.points)]


def trial_name(trial) -> str:
    """A Tune trial's name (so its MLflow and W&B run name): raydd's trial key."""
    return trial_key(trial.config)


def tune_space(search: SearchSpec) -> dict:
    return {name: _tune_domain(domain) for name, domain in search.space}


def _tune_domain(domain: Domain):
    if domain.kind == "choice":
        return tune.choice(list(domain.args))
    return getattr(tune, domain.kind)(*domain.args)


def _search_config(search: SearchSpec, iterations: int, concurrent: int | None) -> tune.TuneConfig:
    concurrent = search.max_concurrent or concurrent
    searcher = _searcher(search, concurrent)
    return tune.TuneConfig(
        metric=search.metric, mode=search.mode, num_samples=search.num_samples, search_alg=searcher,
        scheduler=_scheduler(search, iterations), reuse_actors=True, trial_name_creator=trial_name,
        max_concurrent_trials=None if search.algorithm == "random" else concurrent)


def _searcher(search: SearchSpec, concurrent: int | None):
    """Ray Tune's own searchers; `random` is Tune's variant generator (seeded, and limiting the
    concurrency itself: Tune's max_concurrent_trials applies only to the other searchers)."""
    if search.algorithm == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=search.seed))
    if search.algorithm == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(random_state_seed=search.seed)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=search.seed, max_concurrent=concurrent or 0)


def _scheduler(search: SearchSpec, iterations: int):
    """ASHA over distillation iterations (the trials' `iteration`), not Tune's report count."""
    if search.asha is None:
        return None
    from ray.tune.schedulers import ASHAScheduler

    # max_t one past the last iteration: at max_t ASHA stops every trial, and a trial reports its
    # last iteration twice (its last probe, then the hand-over of its set, which must happen)
    return ASHAScheduler(time_attr="iteration", max_t=iterations + 1, grace_period=search.asha.grace_period,
                         reduction_factor=search.asha.reduction_factor)


# ---- reading a search back ---------------------------------------------------------------------
@dataclass(frozen=True)
class SearchedTrial:
    """One trial of a search, as its experiment's stored state and the sweep's markers tell it."""

    point: TrialPoint  # resolved: the grid point with the sampled values put in
    sampled: dict[str, Any]
    objective: float | None  # the search metric in its last result (None: no probe result yet)
    iteration: int  # distillation iterations done at its last result
    state: str  # done | stopped (by ASHA, before its last iteration) | running | failed | pending


# Tune's trial status -> the state shown for a trial without a `.done` marker
TUNE_STATES = {"TERMINATED": "stopped", "ERROR": "failed", "RUNNING": "running", "PAUSED": "running"}


def searched_trials(spec: SweepSpec, paths: SweepPaths) -> list[SearchedTrial]:
    """Every trial the searches of `spec` have started so far, experiment by experiment."""
    trials = []
    for point in spec.points:
        fs, path = storage.filesystem_for(storage.join(paths.tune, point.trial_key))
        try:
            analysis = tune.ExperimentAnalysis(path, storage_filesystem=fs)
        except Exception:  # this grid point's search has not started (no experiment state yet)
            continue
        trials += [_searched(trial, point, spec, paths) for trial in analysis.trials]
    return trials


def _searched(trial, point: TrialPoint, spec: SweepSpec, paths: SweepPaths) -> SearchedTrial:
    sampled = trial.config[SEARCHED]
    resolved = resolve_sample(point, spec.search, sampled)
    result = trial.last_result or {}
    done = storage.exists(paths.trial_done(resolved.trial_key))
    state = "done" if done else TUNE_STATES.get(trial.status, "pending")
    return SearchedTrial(resolved, sampled, result.get(spec.search.metric), int(result.get("iteration", 0)), state)


def searched_jobs(spec: SweepSpec, trials: list[SearchedTrial]) -> list:
    """The evaluation jobs of a searched sweep: its baselines' and those of every trial that
    distilled its whole set (a stopped trial is not evaluated)."""
    sets = [*spec.baselines, *(t.point for t in trials if t.state == "done")]
    return [job for point in sets for job in jobs_for(point, spec.evaluation)]


def ranked(trials: list[SearchedTrial], mode: str) -> list[SearchedTrial]:
    """Trials with an objective, best first (`mode` max or min); ties keep their order."""
    scored = [t for t in trials if t.objective is not None]
    return sorted(scored, key=lambda t: -t.objective if mode == "max" else t.objective)
