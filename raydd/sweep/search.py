"""A sweep's Tune experiments: the grid as one, or a search per grid point; and the best pools.

Without `search:` the whole grid is one Tune experiment, `<sweep>/tune`. With it, each grid point
(the outer loop; `base` when there is no grid) is its own experiment, `<sweep>/tune/<grid key>`,
searched by its own searcher: its trials sample `search.space` around that point (`SearchSpec`
-> Tune domains, searcher and ASHA scheduler here). `tensorboard --logdir <sweep>/tune` shows them
all; `tune.ExperimentAnalysis(<experiment>)` reads one, with the grid point (`point`) and the
sampled values (`search/<key>`) as config columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray import tune

from raydd import storage
from raydd.spec import SweepSpec
from raydd.spec.search import Domain, SearchSpec
from raydd.sweep.layout import SweepPaths
from raydd.sweep.trial import SEARCHED, param_space


@dataclass(frozen=True)
class Experiment:
    """One Tune experiment of a sweep: where it lives, what it samples, how it is run."""

    location: str
    param_space: dict
    tune_config: tune.TuneConfig


def experiments(spec: SweepSpec, paths: SweepPaths) -> list[Experiment]:
    concurrent = spec.resources.max_concurrent_trials
    if spec.search is None:
        return [Experiment(paths.tune, param_space(spec.points),
                           tune.TuneConfig(reuse_actors=True, max_concurrent_trials=concurrent))]
    return [Experiment(storage.join(paths.tune, point.trial_key),
                       {"point": point.to_dict(), SEARCHED: tune_space(spec.search)},
                       _search_config(spec.search, point.config.iterations, concurrent))
            for point in spec.points]


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
        scheduler=_scheduler(search, iterations), reuse_actors=True,
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
