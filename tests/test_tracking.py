"""Tracking: a tiny probed sweep logs its loss, probe accuracies and image grids to TensorBoard,
an MLflow file store and an offline W&B run, then its set's evaluation rows into the same runs; a
tracker that is not installed is refused early."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from event_files import eval_events, summary_values
from sweep_support import tiny_sweep, write_sweep
from test_eval_tracking import expected

from raydd.spec import SpecError, parse_spec

ITERATIONS, REPORT_EVERY = 4, 2


def tracked_sweep(name: str, root: Path) -> dict:
    raw = tiny_sweep(name, str(root / "runs"), seeds=(0,), iterations=ITERATIONS)
    raw["probe"] = {"students": ["MLP"], "epochs": 5, "report_every": REPORT_EVERY}
    raw["evaluation"]["kd"] = ["off"]
    raw["tracking"] = {"mlflow": {"tracking_uri": (root / "mlruns").as_uri()},
                       "wandb": {"project": "raydd-test", "mode": "offline", "dir": str(root / "wandb")}}
    return raw


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, ray_local):
    """One tracked sweep, shared by the tests that read what each tracker received."""
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    from raydd.spec import load_spec
    from raydd.sweep.runner import run_sweep

    root = tmp_path_factory.mktemp("tracked")
    spec = load_spec(write_sweep(root, tracked_sweep("tracked", root)))
    outcome = run_sweep(spec, echo=lambda line: None, start_ray=lambda: None)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    return spec, outcome, root


def test_mlflow_run_has_the_metrics_per_iteration_and_an_image_per_report(tracked):
    from mlflow.tracking import MlflowClient

    spec, _, root = tracked
    client = MlflowClient((root / "mlruns").as_uri())  # a file store: the sweep allowed it in this process
    experiment = client.get_experiment_by_name(spec.name)  # named after the sweep by default
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == spec.points[0].trial_key
    # a probed trial reports every REPORT_EVERY iterations; each at its distillation iteration
    assert {m.step for m in client.get_metric_history(run.info.run_id, "loss")} == {2, 4}
    probed = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "probe_val_acc")}
    assert set(probed) == {2, 4} and all(0 < v <= 1 for v in probed.values())
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert len([p for p in images if p.endswith(".png")]) == ITERATIONS // REPORT_EVERY, images


def wandb_logs(root: Path) -> tuple[Path, Path]:
    """(the trial's offline W&B log, the log of its run resumed for the evaluation rows)."""
    logs = list((root / "wandb" / "wandb").glob("offline-run-*/run-*.wandb"))
    (evaluation,) = [log for log in logs if any("eval/ConvNetW32/kd_off/mean" in r for r in _wandb_history(log))]
    (trial,) = [log for log in logs if log != evaluation]
    return trial, evaluation


def test_wandb_offline_run_has_the_metrics_and_the_image_grids(tracked):
    _, _, root = tracked
    log, _ = wandb_logs(root)
    history = list(_wandb_history(log))
    probed = [row for row in history if "loss" in row]  # the reports, each with its checkpoint
    seen = [sorted(k for k in row if not k.startswith("_")) for row in history]  # said when it fails
    assert len(probed) == ITERATIONS // REPORT_EVERY, (log.stat().st_size, seen, _tail(log.parent / "logs" / "debug.log"))
    assert all(0 < row["probe_val_acc"] <= 1 for row in probed)
    images = [row for row in history if row.get("synset_grid/_type") == "image-file"]
    assert len(images) == ITERATIONS // REPORT_EVERY
    assert all((log.parent / "files" / row["synset_grid/path"]).is_file() for row in images)


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a W&B debug log, for a failure message."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else f"no {path}"


def _wandb_history(path: Path):
    """The logged rows of an offline W&B run's log: a LevelDB-style log of protobuf records, in
    32 KiB blocks after a 7-byte file header, each record chunk behind a 7-byte header (CRC,
    length, kind: 1 whole, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data, offset, pending = path.read_bytes(), 7, b""
    while offset + 7 <= len(data):
        if (left := 32768 - offset % 32768) < 7:  # a block's tail too short for a header is padding
            offset += left
            continue
        length, kind = struct.unpack_from("<HB", data, offset + 4)
        pending += data[offset + 7: offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record.FromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                yield {item.key or "/".join(item.nested_key): json.loads(item.value_json)
                       for item in record.history.item}


def test_tensorboard_events_have_the_metrics_and_the_image_grids(tracked):
    _, outcome, _ = tracked
    (events,) = [p for p in Path(outcome.root, "tune").glob("*/events.out.tfevents.*") if p.suffix != ".eval"]
    values = summary_values(events)
    assert {step for tag, step, _ in values if tag == "ray/tune/loss"} == {2, 4}
    assert {step for tag, step, _ in values if tag == "ray/tune/probe_val_acc"} == {2, 4}
    images = [v.image for tag, _, v in values if tag == "synset_grid"]
    assert len(images) == ITERATIONS // REPORT_EVERY and images[0].encoded_image_string.startswith(b"\x89PNG")


def test_the_sets_evaluation_rows_reach_the_trials_own_runs(tracked):
    """TensorBoard: the trial's directory; MLflow: the trial's run; W&B: the trial's run id, resumed."""
    from mlflow.tracking import MlflowClient

    from raydd.sweep.runner import load_results

    spec, outcome, root = tracked
    rows = load_results(outcome.results)
    key = spec.points[0].trial_key
    want = expected(rows, key)
    assert len(want) == 2  # ConvNetW32, kd off: seed 0 and the mean
    (trial_dir,) = {p.parent for p in Path(outcome.root, "tune").glob("*/events.out.tfevents.*")}
    scalars, text = eval_events(trial_dir)
    assert scalars == pytest.approx(want) and f"**{key}**" in text
    client = MlflowClient((root / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name(spec.name).experiment_id])
    assert {k: v for k, v in run.data.metrics.items() if k.startswith("eval/")} == pytest.approx(want)
    trial_log, eval_log = wandb_logs(root)
    assert eval_log.name == trial_log.name  # run-<trial id>.wandb: the same run, resumed
    (logged,) = [r for r in _wandb_history(eval_log) if "eval/ConvNetW32/kd_off/mean" in r]
    assert {k: logged[k] for k in want} == pytest.approx(want)


def test_a_tracker_that_is_not_installed_is_refused_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("mlflow", "wandb") else find_spec(name, *a))
    with pytest.raises(SpecError) as error:
        parse_spec(tracked_sweep("t", tmp_path))
    assert error.value.problems == ['tracking.mlflow: needs the mlflow package: pip install "raydd[tracking]"',
                                    'tracking.wandb: needs the wandb package: pip install "raydd[tracking]"']


def test_a_bad_tracking_section_gets_every_problem_at_once(tmp_path):
    raw = tracked_sweep("t", tmp_path)
    raw["tracking"] = {"tensorboard": "yes", "mlflow": {"experiment": 3},
                       "wandb": {"project": "", "mode": "cloud", "entity": "me"}, "comet": {}}
    with pytest.raises(SpecError) as error:
        parse_spec(raw)
    places = [p.split(":")[0] for p in error.value.problems]
    assert places == ["tracking.comet", "tracking.tensorboard", "tracking.mlflow.tracking_uri",
                      "tracking.wandb.entity", "tracking.wandb.mode", "tracking.wandb.project"], error.value.problems
