"""The Tune trial: one grid point distilled by a `Distiller`, checkpointed through Tune.

Each iteration reports `iteration`, `loss` and `progress`; every `checkpoint_every` iterations (and
at the last) the Distiller's full state goes into a Tune checkpoint, so a retried trial
(`FailureConfig(max_failures)`) continues from there (`resumed_from` says where). The finished set
is saved to `<sweep>/synsets/<trial_key>/` and handed to the dispatcher by its key.
"""

from __future__ import annotations

import logging
import os
import tempfile

import ray
import torch
from ray import tune

from raydd.sweep import artifacts, storage
from raydd.sweep.context import SweepContext
from raydd.sweep.dispatcher import find_dispatcher

STATE_FILE = "distiller.pt"


def trial_device() -> str:
    """cuda when Tune gave this trial a GPU, else cpu."""
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


def _restore(distiller) -> int:
    """Load the latest Tune checkpoint into `distiller`; the iteration it resumed at (0: fresh)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as directory:
        state = torch.load(os.path.join(directory, STATE_FILE), map_location="cpu", weights_only=True)
    distiller.load_state_dict(state)
    return distiller.iteration


def _report(metrics: dict, distiller=None) -> None:
    if distiller is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        torch.save(distiller.state_dict(), os.path.join(directory, STATE_FILE))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def _distill(point, context: SweepContext, device: str):
    """Run the point's Distiller to its last iteration; (synthetic set, iteration resumed at)."""
    from raydd.core.distill import Distiller

    cfg, every = point.config, context.spec.resources.checkpoint_every
    distiller = Distiller(cfg, context.load_data(device), device)
    resumed_from = _restore(distiller)
    while distiller.iteration < cfg.iterations:
        loss = distiller.step()
        it = distiller.iteration
        metrics = {"iteration": it, "loss": loss, "progress": it / cfg.iterations, "resumed_from": resumed_from}
        checkpointed = it % every == 0 or it == cfg.iterations
        _report(metrics, distiller if checkpointed else None)
    return distiller.synthetic_set(), resumed_from


def distill_trial(config: dict, context: SweepContext) -> None:
    """Tune function trainable; `config["trial_key"]` names the grid point."""
    context.enter_worker()
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per save
    point = context.point(config["trial_key"])
    paths = context.paths
    location = paths.synset(point.trial_key)
    resumed_from = -1  # the set was already on storage (e.g. the trial died after saving it)
    if not artifacts.synset_complete(location):
        synset, resumed_from = _distill(point, context, trial_device())
        artifacts.save_synset_to(synset, location)
    queued = ray.get(find_dispatcher(context).submit.remote(point.trial_key))
    storage.write_text(paths.trial_done(point.trial_key), location + "\n")
    iterations = point.config.iterations
    tune.report({"iteration": iterations, "progress": 1.0, "resumed_from": resumed_from,
                 "evaluations_queued": queued, "done": True})
