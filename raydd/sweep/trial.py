"""The Tune trial: one grid point distilled by core's `distill()` loop, checkpointed through Tune.

Each iteration reports `iteration`, `loss` and `progress`; every `checkpoint_every` iterations (and
at the last) the run's full state goes into a Tune checkpoint, so a retried trial
(`FailureConfig(max_failures)`) continues from there (`resumed_from` says where). The trial's
resolved grid point comes in its Tune config (`config["point"]`, a `TrialPoint.to_dict()`). The finished set
is saved to `<sweep>/synsets/<trial_key>/` and handed to the dispatcher with its point.
"""

from __future__ import annotations

import logging
import tempfile

import ray
from ray import tune

from raydd import storage
from raydd.core.distill.loop import load_checkpoint, save_checkpoint
from raydd.spec import TrialPoint
from raydd.sweep import artifacts
from raydd.core.devices import device_label
from raydd.sweep.context import SweepContext, worker_device
from raydd.sweep.dispatcher import find_dispatcher


def param_space(points) -> dict:
    """Tune's grid: one trial per point, `config["point"]` the point as plain values
    (`TrialPoint.to_dict()`), so that Tune stores, restores and shows it as it is."""
    return {"point": tune.grid_search([p.to_dict() for p in points])}


def trial_key(config: dict) -> str:
    """The trial key of a Tune trial's config."""
    return config["point"]["trial_key"]


def _metrics(p) -> dict:
    return {"iteration": p.iteration, "loss": p.loss, "progress": p.iteration / p.total,
            "resumed_from": p.resumed_from}


class TuneStore:
    """Tune's checkpoints as the core loop's checkpoint store: a save is a report with a checkpoint."""

    def __init__(self) -> None:
        self.resumed_from = 0

    def load(self) -> dict | None:
        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            state = load_checkpoint(directory)
        self.resumed_from = 0 if state is None else int(state["iteration"])
        return state

    def save(self, state: dict, progress) -> None:
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(state, directory)
            tune.report(_metrics(progress), checkpoint=tune.Checkpoint.from_directory(directory))


def _distill(point: TrialPoint, context: SweepContext, device: str):
    """Run the point's distillation to its last iteration; (synthetic set, iteration resumed at)."""
    from raydd.core.distill import distill

    def report(p) -> None:  # every iteration; those with a checkpoint were reported by the store
        if not p.checkpointed:
            tune.report(_metrics(p))

    store = TuneStore()
    synset = distill(point.config, context.load_data(device), device, store=store,
                     checkpoint_every=context.checkpoint_every, progress=report)
    return synset, store.resumed_from


def distill_trial(config: dict, context: SweepContext) -> None:
    """Tune function trainable; `config["point"]` is the grid point to distil (`TrialPoint.to_dict()`)."""
    context.enter_worker()
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per save
    point = TrialPoint.from_dict(config["point"])
    paths = context.paths
    location = paths.synset(point.trial_key)
    resumed_from = -1  # the set was already on storage (e.g. the trial died after saving it)
    if not artifacts.synset_complete(location):
        synset, resumed_from = _distill(point, context, worker_device())
        artifacts.save_synset_to(synset, location)
    queued = ray.get(find_dispatcher(context).submit.remote(point))
    storage.write_text(paths.trial_done(point.trial_key), location + "\n")
    iterations = point.config.iterations
    tune.report({"iteration": iterations, "progress": 1.0, "resumed_from": resumed_from,
                 "evaluations_queued": queued, "done": True, "device": device_label(worker_device()),
                 "node_id": ray.get_runtime_context().get_node_id()})
