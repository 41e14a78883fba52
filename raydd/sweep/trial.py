"""The Tune trial: one grid point distilled by core's `distill()` loop, checkpointed through Tune.

Each iteration reports `iteration`, `loss` and `progress`; every `checkpoint_every` iterations (and
at the last) the run's full state goes into a Tune checkpoint, so a retried trial
(`FailureConfig(max_failures)`) continues from there (`resumed_from` says where). The trial's
resolved grid point comes in its Tune config (`config["point"]`, a `TrialPoint.to_dict()`); a searched
trial's config also holds the values its searcher sampled (`config["search"]`), which resolve into
its own point (`raydd.spec.search.resolve_sample`). The finished set is saved to
`<sweep>/synsets/<trial_key>/` and handed to the dispatcher with its point.

With a probe (raydd.sweep.probe), a trial reports only every `probe.report_every` iterations and at
the end, each report with a checkpoint and the probe's validation accuracies: every result Tune
sees then carries the objective its searchers and schedulers read.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import ray
from ray import tune
from ray.tune.result import TIMESTEPS_TOTAL

from raydd import storage
from raydd.core.artifact import GRID_FILE, SyntheticSet, build_meta, save_grid
from raydd.core.distill.loop import load_checkpoint, save_checkpoint
from raydd.spec import TrialPoint
from raydd.spec.experts import needs_experts
from raydd.spec.search import resolve_sample, searched_key
from raydd.sweep import artifacts
from raydd.core.devices import device_label
from raydd.sweep.context import SweepContext, worker_device
from raydd.sweep.dispatcher import find_dispatcher
from raydd.sweep.probe import class_labels, probe_metrics

SEARCHED = "search"  # the key of a searched trial's sampled values in its Tune config


def param_space(points) -> dict:
    """Tune's grid: one trial per point, `config["point"]` the point as plain values
    (`TrialPoint.to_dict()`), so that Tune stores, restores and shows it as it is."""
    return {"point": tune.grid_search([p.to_dict() for p in points])}


def trial_key(config: dict) -> str:
    """The trial key of a Tune trial's config."""
    grid_key = config["point"]["trial_key"]
    return searched_key(grid_key, config[SEARCHED]) if SEARCHED in config else grid_key


def trial_point(config: dict, context: SweepContext) -> TrialPoint:
    """The resolved point a Tune trial distils: its grid point, with any sampled values put in."""
    point = TrialPoint.from_dict(config["point"])
    return resolve_sample(point, context.search, config[SEARCHED]) if SEARCHED in config else point


def _metrics(p) -> dict:
    # timesteps_total: the step Tune's TensorBoard and MLflow loggers plot against (raydd.sweep.tracking)
    return {"iteration": p.iteration, "loss": p.loss, "progress": p.iteration / p.total,
            "resumed_from": p.resumed_from, TIMESTEPS_TOTAL: p.iteration}


class TuneStore:
    """Tune's checkpoints as the core loop's checkpoint store: a save is a report with a checkpoint,
    which also holds the images as a grid (`grid.png`) for the trackers to log."""

    def __init__(self, grid, probe=None) -> None:
        self.resumed_from = 0
        self.grid = grid  # (images, path) -> writes their grid image
        self.probe = probe  # images -> the probe's metrics, reported with each checkpoint
        self.last_probe: dict = {}
        self.final_state: dict | None = None  # the last iteration's state and metrics, reported by the trial
        self.final_metrics: dict = {}

    def load(self) -> dict | None:
        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            state = load_checkpoint(directory)
        self.resumed_from = 0 if state is None else int(state["iteration"])
        return state

    def save(self, state: dict, progress) -> None:
        if self.probe is not None:
            self.last_probe = self.probe(state["images"])
        if progress.iteration >= progress.total:
            # The trial's own last report carries this one (`report_final`), after its set is saved
            # and queued: a scheduler may stop a trial at any report (ASHA does at its last
            # iteration, max_t), which here would cut it off before its set reached the evaluators.
            self.final_state, self.final_metrics = state, _metrics(progress)
            return
        self.report(state, {**_metrics(progress), **self.last_probe})

    def report(self, state: dict | None, metrics: dict) -> None:
        """Report `metrics` with `state` as a checkpoint (and its image grid), or alone when None."""
        if state is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(state, directory)
            self.grid(state["images"], Path(directory) / GRID_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def _probe(context: SweepContext, data, device: str):
    """images -> the probe's metrics on them, or None when the sweep has no probe."""
    if context.probe is None:
        return None

    def run(images, labels=None):
        labels = class_labels(images, data.info.num_classes) if labels is None else labels
        return probe_metrics(images, labels, data, context.probe, context.evaluation.config, device)
    return run


def _grid(point: TrialPoint, info):
    """(images, path) -> the grid of a distiller's images (class-major), as the artifact draws it."""
    def save(images, path) -> None:
        labels = class_labels(images, info.num_classes)
        save_grid(SyntheticSet(images, labels, build_meta(point.config, info, 0, 0.0)), path)
    return save


def _distill(point: TrialPoint, context: SweepContext, device: str, store: TuneStore):
    """Run the point's distillation to its last iteration, checkpointing into `store`."""
    from raydd.core.distill import distill

    def report(p) -> None:  # every iteration; those with a checkpoint were reported by the store
        if not p.checkpointed and store.probe is None:
            tune.report(_metrics(p))

    every = context.checkpoint_every if store.probe is None else (context.probe.report_every or point.config.iterations)
    experts = {"experts": context.experts_root} if needs_experts(point.config.method) else {}
    synset = distill(point.config, context.load_data(device), device, store=store, checkpoint_every=every,
                     progress=report, **experts)
    if experts:  # where its experts came from, beside how many (experts_per_arch)
        synset.meta["experts_storage"] = context.experts_root
    return synset


def distill_trial(config: dict, context: SweepContext) -> None:
    """Tune function trainable; `config["point"]` is the grid point to distil (`TrialPoint.to_dict()`),
    `config["search"]` the values a searcher sampled for it, if any."""
    context.enter_worker()
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per save
    point = trial_point(config, context)
    paths = context.paths
    location = paths.synset(point.trial_key)
    device = worker_device()
    data = context.load_data(device)
    store = TuneStore(_grid(point, data.info), _probe(context, data, device))
    resumed_from = -1  # -1: the set was already on storage (the trial died after saving it)
    if not artifacts.synset_complete(location):
        synset = _distill(point, context, device, store)
        resumed_from = store.resumed_from
        artifacts.save_synset_to(synset, location)
    probed = store.last_probe
    if store.probe is not None and not probed:  # resumed after its last probe: measure the finished set
        synset = artifacts.load_synset_from(location)
        probed = store.probe(synset.images, synset.labels)
    queued = ray.get(find_dispatcher(context).submit.remote(point))
    storage.write_text(paths.trial_done(point.trial_key), location + "\n")
    iterations = point.config.iterations
    store.report(store.final_state, {
        **store.final_metrics, **probed, "iteration": iterations, TIMESTEPS_TOTAL: iterations, "progress": 1.0,
        "resumed_from": resumed_from, "evaluations_queued": queued, "done": True,
        "device": device_label(device), "node_id": ray.get_runtime_context().get_node_id()})
