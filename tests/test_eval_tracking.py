"""Evaluation rows to the trackers (raydd.sweep.eval_tracking and eval_trackers), from rows the
test writes: the values each tracker receives are the rows' accuracies, and a failing tracker
costs nothing but a warning. (A real sweep's trackers are checked in test_tracking.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from event_files import eval_events
from test_results_support import write_sample

from raydd.results import load
from raydd.spec.search import MlflowSpec, TrackingSpec
from raydd.stats import mean_std
from raydd.sweep.eval_trackers import TrialRun, set_metrics, summary_table
from raydd.sweep.eval_tracking import EvalResultLogger

TRIAL, BASELINE = "t-single-0", "t-mixed-0"  # the sample's sets: one with a trial directory, one without


def expected(rows, key: str) -> dict[str, float]:
    """The metrics of set `key`, computed here from its rows."""
    own = rows[rows["trial_key"] == key]
    out = {f"eval/{r.student}/kd_{'on' if r.kd else 'off'}/seed_{r.eval_seed}": r.test_acc for r in own.itertuples()}
    for (student, kd), group in own.groupby(["student", "kd"]):
        out[f"eval/{student}/kd_{'on' if kd else 'off'}/mean"] = mean_std(group["test_acc"]).mean
    return out


@pytest.fixture
def sweep_files(tmp_path):
    """The sample rows under results/, and a Tune trial directory of TRIAL under tune/."""
    write_sample(tmp_path / "results")
    trial = tmp_path / "tune" / "distill_trial_abc12_00000"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"point": {"trial_key": TRIAL}}))
    (trial / "result.json").write_text(json.dumps({"trial_id": "abc12_00000", "loss": 1.0}) + "\n")
    return tmp_path, trial


def logger_for(root: Path, tracking: TrackingSpec, tune_root: Path | None = None) -> EvalResultLogger:
    tune = str(tune_root or root / "tune")
    return EvalResultLogger(tracking, "demo", str(root / "results"), tune, [tune])


def test_set_metrics_are_each_rows_accuracy_and_the_mean_over_seeds(sweep_files):
    rows = load(str(sweep_files[0] / "results"))
    own = rows[rows["trial_key"] == TRIAL]
    metrics = set_metrics(own)
    assert metrics["eval/MLP/kd_off/seed_0"] == pytest.approx(0.29)  # base 0.30 - 1 point
    assert metrics["eval/MLP/kd_on/mean"] == pytest.approx(0.32)  # base + KD gain
    assert len(metrics) == 2 * 2 * (2 + 1)  # students x kd x (seeds + mean)
    table = summary_table(TRIAL, own)
    assert "| - | MLP | 30.00 ± 1.00 (2) | 32.00 ± 1.00 (2) |" in table, table


def test_tensorboard_gets_each_set_in_its_trials_directory(sweep_files):
    root, trial = sweep_files
    assert logger_for(root, TrackingSpec(tensorboard=True)).log_sets([TRIAL, BASELINE]) == 2
    rows = load(str(root / "results"))
    for key, directory in ((TRIAL, trial), (BASELINE, root / "tune" / BASELINE)):  # a set without a trial
        scalars, text = eval_events(directory)
        assert scalars == pytest.approx(expected(rows, key)), key
        assert text.startswith(f"**{key}**") and "| ConvNet |" in text


class RunningTrial:
    """What the logger reads of a Tune trial: its storage path, its id, its config."""

    def __init__(self, path: Path, trial_id: str, key: str) -> None:
        self.path, self.trial_id, self.config = str(path), trial_id, {"point": {"trial_key": key}}


def test_a_running_trials_directory_is_known_before_tune_syncs_its_files(sweep_files):
    root, _ = sweep_files
    logger = logger_for(root, TrackingSpec(tensorboard=True))
    unsynced = root / "tune" / "distill_trial_def34_00001"  # Tune has not copied params.json here yet
    logger.note_trial(RunningTrial(unsynced, "def34_00001", BASELINE))
    logger.note_trial(RunningTrial(root / "elsewhere" / "trial", "x", "t-other"))  # not under the sweep's tune/
    assert logger.runs == {BASELINE: TrialRun(str(unsynced), "def34_00001")}
    assert logger.log_sets([BASELINE]) == 1
    scalars, _ = eval_events(unsynced)
    assert scalars == pytest.approx(expected(load(str(root / "results")), BASELINE))


def test_mlflow_gets_the_trials_own_run_or_a_run_named_after_the_set(sweep_files, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    root, _ = sweep_files
    uri = (root / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(uri)
    experiment = client.create_experiment("demo")
    trial_run = client.create_run(experiment, run_name=TRIAL, tags={"trial_name": TRIAL}).info.run_id  # as Ray's
    logger = logger_for(root, TrackingSpec(tensorboard=False, mlflow=MlflowSpec(uri)))
    assert logger.log_sets([TRIAL, BASELINE]) == 2
    rows = load(str(root / "results"))
    runs = {r.info.run_name: r for r in client.search_runs([experiment])}
    assert set(runs) == {TRIAL, BASELINE} and runs[TRIAL].info.run_id == trial_run
    for key in (TRIAL, BASELINE):
        assert runs[key].data.metrics == pytest.approx(expected(rows, key))
    artifacts = [a.path for a in client.list_artifacts(trial_run, "eval")]
    assert artifacts == ["eval/summary.md"]


def test_a_failing_tracker_warns_once_and_leaves_the_rows_and_the_other_trackers(sweep_files, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    root, _ = sweep_files
    blocked = root / "a-file"
    blocked.write_text("not a directory")
    before = {p.name: p.read_bytes() for p in (root / "results").iterdir()}
    uri = (root / "mlruns").as_uri()
    logger = logger_for(root, TrackingSpec(tensorboard=True, mlflow=MlflowSpec(uri)), tune_root=blocked / "tune")
    logger.experiments = []  # no trial directories: every set goes under the unwritable tune root
    assert logger.log_sets([TRIAL]) == 1 and logger.log_sets([BASELINE]) == 1  # no exception
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "no longer logged to TensorBoard" in warnings[0], warnings
    assert {p.name: p.read_bytes() for p in (root / "results").iterdir()} == before
    assert len(load(str(root / "results"))) == 16
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    assert sorted(r.info.run_name for r in runs) == [BASELINE, TRIAL]  # MLflow went on


def test_unreadable_trial_files_warn_once_and_log_nothing(sweep_files, capsys):
    root, trial = sweep_files
    (trial / "params.json").write_text("{truncated")
    logger = logger_for(root, TrackingSpec(tensorboard=True))
    assert logger.log_sets([TRIAL]) == 0 and logger.log_sets([BASELINE]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "JSONDecodeError" in warnings[0], warnings
    assert not list(trial.glob("events.*"))


def test_sets_without_rows_log_nothing(sweep_files):
    root, _ = sweep_files
    empty = root / "empty-results"
    empty.mkdir()
    logger = EvalResultLogger(TrackingSpec(tensorboard=True), "demo", str(empty), str(root / "tune"),
                              [str(root / "tune")])
    assert logger.log_sets([TRIAL]) == 0
    assert logger_for(root, TrackingSpec(tensorboard=True)).log_sets(["no-such-set"]) == 0
    assert not list((root / "tune").rglob("events.*"))
