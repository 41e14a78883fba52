"""The Tune trial: one grid point distilled by core's `distill()` loop, checkpointed through Tune.

Each iteration reports `iteration`, `loss` and `progress`; every `checkpoint_every` iterations (and
at the last) the run's full state goes into a Tune checkpoint, so a retried trial
(`FailureConfig(max_failures)`) continues from there (`resumed_from` says where). The finished set
is saved to `<sweep>/synsets/<trial_key>/` and handed to the dispatcher by its key.
"""

from __future__ import annotations

import logging
import tempfile

import ray
from ray import tune

from raydd.core.distill.loop import load_checkpoint, save_checkpoint
from raydd.sweep import artifacts, storage
from raydd.sweep.context import SweepContext, worker_device
from raydd.sweep.dispatcher import find_dispatcher


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


def _distill(point, context: SweepContext, device: str):
    """Run the point's distillation to its last iteration; (synthetic set, iteration resumed at)."""
    from raydd.core.distill import distill

    def report(p) -> None:  # every iteration; those with a checkpoint were reported by the store
        if not p.checkpointed:
            tune.report(_metrics(p))

    store = TuneStore()
    synset = distill(point.config, context.load_data(device), device, store=store,
                     checkpoint_every=context.spec.resources.checkpoint_every, progress=report)
    return synset, store.resumed_from


def distill_trial(config: dict, context: SweepContext) -> None:
    """Tune function trainable; `config["trial_key"]` names the grid point."""
    context.enter_worker()
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per save
    point = context.point(config["trial_key"])
    paths = context.paths
    location = paths.synset(point.trial_key)
    resumed_from = -1  # the set was already on storage (e.g. the trial died after saving it)
    if not artifacts.synset_complete(location):
        synset, resumed_from = _distill(point, context, worker_device())
        artifacts.save_synset_to(synset, location)
    queued = ray.get(find_dispatcher(context).submit.remote(point.trial_key))
    storage.write_text(paths.trial_done(point.trial_key), location + "\n")
    iterations = point.config.iterations
    tune.report({"iteration": iterations, "progress": 1.0, "resumed_from": resumed_from,
                 "evaluations_queued": queued, "done": True})
