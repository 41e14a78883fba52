"""Where a sweep's trials are tracked (`tracking:`): TensorBoard, MLflow, Weights & Biases.

Ray Tune's own logger callbacks log every result a trial reports (loss, the probe accuracies,
probe_seconds, ...), with `timesteps_total`, the distillation iteration, as their step (W&B steps
by report). Those loggers take scalars from results; the synthetic-image grid comes another way:
each checkpoint a trial reports holds `grid.png` (raydd.sweep.trial), and `on_checkpoint`, which
Tune calls in the driver, reads it from storage and logs it as an image (TensorBoard), an image
artifact (MLflow) or a `wandb.Image` (W&B). So every log call happens in the driver: the tracking
libraries are needed where a sweep is driven, not on its workers, no trial holds a logging session,
and a result (what Tune stores, shows and hands its searchers) never carries pixels.

CSV and JSON results are always written (`raydd sweep status`/`best` and Tune's
ExperimentAnalysis read them); Tune adds no logger of its own (`TUNE_DISABLE_AUTO_CALLBACK_LOGGERS`),
so `tensorboard: false` writes no event files.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
from ray.tune.result import TIMESTEPS_TOTAL, TRAINING_ITERATION

from raydd.core.artifact import GRID_FILE
from raydd.spec.search import MlflowSpec, TrackingSpec, WandbSpec

IMAGE_KEY = "synset_grid"  # the name the image series has in every tracker


def loggers(tracking: TrackingSpec | None, sweep: str) -> list:
    """Tune's logger callbacks for a sweep: CSV and JSON always, then what `tracking` turns on."""
    tracking = tracking or TrackingSpec()
    callbacks = [CSVLoggerCallback(), JsonLoggerCallback()]
    if tracking.tensorboard:
        callbacks.append(TensorBoardLogger())
    if tracking.mlflow:
        callbacks.append(mlflow_logger(tracking.mlflow, sweep))
    if tracking.wandb:
        callbacks.append(wandb_logger(tracking.wandb, sweep))
    return callbacks


def grid_image(checkpoint) -> np.ndarray | None:
    """The checkpoint's synthetic-image grid as an [H, W, 3] uint8 array (None: it has none)."""
    from PIL import Image

    try:
        with checkpoint.filesystem.open_input_file(f"{checkpoint.path}/{GRID_FILE}") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _step(result: dict) -> int:
    """The step Tune's loggers log a result at."""
    return result.get(TIMESTEPS_TOTAL) or result[TRAINING_ITERATION]


class TensorBoardLogger(TBXLoggerCallback):
    """Tune's TensorBoard logger, plus the image grid of every checkpoint (IMAGES tab)."""

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        image = grid_image(checkpoint)
        if image is not None and trial in self._trial_writer:  # the writer log_trial_start opened
            self._trial_writer[trial].add_image(IMAGE_KEY, image, global_step=_step(trial.last_result),
                                                dataformats="HWC")


def allow_file_store(tracking_uri: str) -> None:
    """MLflow 3 keeps its file store behind a switch; a file: URI (or a bare path) asks for that store."""
    if urlparse(tracking_uri).scheme in ("", "file"):
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"


def wandb_dir(spec: WandbSpec) -> str | None:
    """Where W&B writes its files, made absolute and created; None: W&B's own choice."""
    if not spec.dir:
        return None
    directory = str(Path(spec.dir).expanduser().resolve())
    os.makedirs(directory, exist_ok=True)
    return directory


# The MLflow and W&B loggers are made in functions, so that importing raydd imports neither library
# (Ray's W&B module imports wandb when it is installed); Tune pickles them with the experiment.
def mlflow_logger(spec: MlflowSpec, sweep: str):
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class MlflowLogger(MLflowLoggerCallback):
        """Tune's MLflow logger (one run per trial, named by its trial key), plus the image
        grid of every checkpoint, logged with its step (the run's Artifacts and image views)."""

        def setup(self, *args, **kwargs):
            allow_file_store(spec.tracking_uri)
            super().setup(*args, **kwargs)

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            image = grid_image(checkpoint)
            if image is not None and trial in self._trial_runs:  # the run log_trial_start made
                client = self.mlflow_util._get_client()
                client.log_image(self._trial_runs[trial], image, key=IMAGE_KEY, step=_step(trial.last_result))

    return MlflowLogger(spec.tracking_uri, experiment_name=spec.experiment or sweep, tags={"sweep": sweep})


def wandb_logger(spec: WandbSpec, sweep: str):
    from ray.air.integrations.wandb import WandbLoggerCallback

    class WandbLogger(WandbLoggerCallback):
        """Tune's W&B logger (one run per trial, grouped by sweep), plus the image grid of every
        checkpoint: a [H, W, 3] array in a logged result becomes a wandb.Image."""

        def setup(self, *args, **kwargs):
            # W&B's own switch, read by Ray's check for an API key (an offline run needs none)
            os.environ["WANDB_MODE"] = spec.mode
            super().setup(*args, **kwargs)

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            image = grid_image(checkpoint)
            if image is not None:  # logged at the step of the result the checkpoint came with
                self.log_trial_result(iteration, trial, {TRAINING_ITERATION: trial.last_result[TRAINING_ITERATION],
                                                         IMAGE_KEY: image})

    directory = wandb_dir(spec)
    return WandbLogger(project=spec.project, group=sweep, mode=spec.mode,
                       **({"dir": directory} if directory else {}))
