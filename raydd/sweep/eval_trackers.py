"""How each tracker takes one set's evaluation results (raydd.sweep.eval_tracking decides which
sets and when):

- each row's test accuracy as `eval/[<eval key>/]<student>/kd_<off|on>/seed_<s>`, the mean over
  the seeds as `.../mean` (step 0: each is logged once);
- the set's summary table (per student, mean ± std over seeds, KD off/on) as text.

Into which run:

- TensorBoard: a new event file in the trial's own directory under `<sweep>/tune`; a set without a
  trial (a baseline) gets `<sweep>/tune/<set key>`.
- MLflow: the run Ray's MLflow logger made for the trial (tag `trial_name` = the trial key) in the
  sweep's experiment; where there is none, a run named after the set is started there.
- W&B: the trial's run resumed by its id (Tune's trial id, which Ray's W&B logger gives the run);
  where the id is not known, a run named after the set in the sweep's group.

The libraries are imported inside the functions, as in raydd.sweep.tracking.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from raydd import storage
from raydd.kd_words import kd_word
from raydd.spec.search import MlflowSpec, WandbSpec
from raydd.stats import SPREAD_NOTE, mean_std
from raydd.sweep.tracking import allow_file_store, wandb_dir

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


# ---- a set and its run ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialRun:
    directory: str  # the trial's directory under the Tune experiment
    trial_id: str | None  # Tune's id (W&B's run id); None before the trial reported anything


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


# ---- the trackers --------------------------------------------------------------------------------
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
