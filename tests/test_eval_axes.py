"""Evaluation settings as grid axes: jobs, rows, tables, and a tiny sweep on a local Ray."""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep
from test_results_support import make_row

from raydd import storage
from raydd.core.evaluate import EvalRecord
from raydd.results import load, results_table, to_table, write_rows
from raydd.results.table import default_by
from raydd.spec import load_spec
from raydd.sweep.context import SweepContext
from raydd.sweep.evaluation import MISSING, EvalJob, all_jobs, job_state, jobs_for, record_rows, write_job_rows
from raydd.sweep.layout import SweepPaths

AUGMENTS = ("none", "dsa")


def _raw(tmp_path, name: str, **grid) -> dict:
    """The tiny sweep with `grid` added (evaluation axes leave `evaluation:`), and a random-real baseline."""
    raw = tiny_sweep(name, str(tmp_path / "runs"), seeds=(0,))
    raw["grid"].update(grid)
    for axis in grid:
        raw["evaluation"].pop(axis, None)
    return {**raw, "baselines": ["random_real"]}


def _spec(tmp_path, name: str, **grid):
    return load_spec(write_sweep(tmp_path, _raw(tmp_path, name, **grid)))


def _context(spec) -> SweepContext:
    return SweepContext.of(spec, SweepPaths.of(spec.storage, spec.name))


# ---- jobs --------------------------------------------------------------------------------------
def test_jobs_are_sets_x_settings_x_students_x_kd_x_seeds_with_unique_names(tmp_path):
    spec = _spec(tmp_path, "count", augment=list(AUGMENTS), alphas=[0.5, 0.9])
    ev = spec.evaluation
    jobs = all_jobs(spec)
    assert len(spec.evaluated) == 2 and len(ev.settings) == 4  # one distilled set, one baseline
    assert len(jobs) == len(spec.evaluated) * len(ev.settings) * len(ev.students) * len(ev.kd_modes) * ev.seeds
    assert len({job.name for job in jobs}) == len(jobs)
    job = jobs_for(spec.points[0], ev)[0]
    assert job.name == f"{spec.points[0].trial_key}__augment_none-alphas0.5__ConvNetW32__kd-off__seed0"
    assert [j.kd for j in jobs_for(spec.points[0], ev)] == [False] * 4 + [True] * 4  # no teacher needed first


def test_without_evaluation_axes_jobs_keep_their_names(tmp_path):
    spec = load_spec(write_sweep(tmp_path, tiny_sweep("plain", str(tmp_path / "runs"), seeds=(0,))))
    (point,) = spec.points
    assert [j.name for j in all_jobs(spec)] == [f"{point.trial_key}__ConvNetW32__kd-off__seed0",
                                                f"{point.trial_key}__ConvNetW32__kd-on__seed0"]
    assert all(j.eval_key is None for j in all_jobs(spec))


def test_without_evaluation_axes_a_sweep_keeps_its_experiment_hash(tmp_path):
    """The hash this sweep file had before evaluation axes existed (computed at commit c91f49c): a
    stored sweep is still the same experiment, so it resumes and a repeated submit is accepted."""
    spec = load_spec(write_sweep(tmp_path, tiny_sweep("plain", str(tmp_path / "runs"), seeds=(0,))))
    assert spec.experiment_hash() == "74546faad34daf55705de632358857d9542f9ed5273079ff607b2e4a65d1f5ef"


def test_teachers_of_settings_that_train_them_differently_are_kept_apart(tmp_path):
    paths = SweepPaths.of(str(tmp_path / "runs"), "t")
    assert paths.teacher("k", 0) == os.path.join(paths.root, "synsets", "k", "teachers", "seed0.pt")
    assert paths.teacher("k", 0, "augment_dsa") == os.path.join(paths.root, "synsets", "k", "teachers",
                                                                "augment_dsa", "seed0.pt")


# ---- rows --------------------------------------------------------------------------------------
def test_a_row_carries_its_evaluation_setting(tmp_path):
    spec = _spec(tmp_path, "rows", augment=list(AUGMENTS), lr=[0.01, 0.05])
    context, point = _context(spec), spec.points[0]
    setting = spec.evaluation.settings[3]
    job = EvalJob(point, "ConvNetW32", False, 0, setting)
    record = EvalRecord("ConvNetW32", None, False, None, None, 0, 0.4, 0.35, 1.5)
    (row,) = record_rows(record, job, context, {}, ("cpu", "127.0.0.1"))
    assert (row["augment"], row["lr"], row["eval_key"], row["epochs"]) == ("dsa", 0.05, "augment_dsa-lr0.05", 5)
    recipe = json.loads(row["config_json"])
    assert recipe["evaluation"] == json.loads(json.dumps(setting.config.to_dict()))
    assert recipe["eval_key"] == "augment_dsa-lr0.05" and recipe["axes"]["augment"] == "dsa"
    assert recipe["axes"]["seed"] == point.axes["seed"]  # the distillation's axes are still there


def test_a_result_file_of_another_setting_does_not_complete_a_job(tmp_path):
    spec = _spec(tmp_path, "state", augment=list(AUGMENTS))
    context, point = _context(spec), spec.points[0]
    none, dsa = (EvalJob(point, "ConvNetW32", False, 0, s) for s in spec.evaluation.settings)
    record = EvalRecord("ConvNetW32", None, False, None, None, 0, 0.4, 0.35, 1.5)
    target = context.paths.result_file(dsa.name)
    write_job_rows(record_rows(record, none, context, {}, ("cpu", "n")), target, MISSING, context.paths)
    assert job_state(target, dsa).startswith(f"not the result of job {dsa.name}")
    assert job_state(target, none) is None


def test_a_file_written_before_the_setting_columns_still_completes_its_job(tmp_path):
    """Result files of sweeps run before evaluation axes existed lack `lr` and `eval_key`: their jobs
    (same names, no evaluation axis) stay done, so a resume redoes nothing."""
    spec = load_spec(write_sweep(tmp_path, tiny_sweep("older", str(tmp_path / "runs"), seeds=(0,))))
    context, job = _context(spec), all_jobs(spec)[0]
    record = EvalRecord("ConvNetW32", None, False, None, None, 0, 0.4, 0.35, 1.5)
    (row,) = record_rows(record, job, context, {}, ("cpu", "n"))
    target = context.paths.result_file(job.name)
    os.makedirs(os.path.dirname(target))
    pq.write_table(to_table([row]).drop_columns(["lr", "eval_key"]), target)
    assert job_state(target, job) is None
    df = load(context.paths.results)
    assert df["lr"].isna().all() and df["eval_key"].isna().all()


# ---- tables --------------------------------------------------------------------------------------
def _rows(**by_setting) -> list[dict]:
    """Rows of one set and student under several settings: {eval_key: (columns, test accuracies)}."""
    return [make_row(eval_key=key, eval_seed=seed, test_acc=acc, **columns)
            for key, (columns, accs) in by_setting.items() for seed, acc in enumerate(accs)]


def test_tables_split_rows_by_the_setting_that_varies_never_pooling_them(tmp_path):
    write_rows(_rows(augment_none=({"augment": "none"}, [0.30, 0.32]),
                     augment_dsa=({"augment": "dsa"}, [0.50, 0.52])), str(tmp_path))
    df = load(str(tmp_path))
    assert default_by(df) == ["augment"]  # eval_key says nothing augment does not
    table = results_table(df)
    assert [s["augment"] for s in table.settings] == ["dsa", "none"]
    assert table.mean["MLP"].round(6).tolist() == [51.0, 31.0] and table.n["MLP"].tolist() == [2, 2]


def test_settings_no_column_tells_apart_are_split_by_eval_key(tmp_path):
    write_rows(_rows(temperatures1=({}, [0.30, 0.32]), temperatures4=({}, [0.40, 0.42])), str(tmp_path))
    df = load(str(tmp_path))
    assert default_by(df) == ["eval_key"]
    assert results_table(df).mean["MLP"].round(6).tolist() == [31.0, 41.0]


def test_the_best_mark_is_given_within_each_evaluation_setting(tmp_path):
    rows = [make_row(trial_key=f"t-{pool}", pool_name=pool, augment=augment, eval_key=f"augment_{augment}",
                     eval_seed=seed, test_acc=acc + 0.005 * seed)
            for pool, augment, acc in [("A", "none", 0.30), ("B", "none", 0.35), ("A", "dsa", 0.50), ("B", "dsa", 0.45)]
            for seed in range(3)]  # three seeds, 5 points apart at a spread of 0.4: marked
    write_rows(rows, str(tmp_path))
    table = results_table(load(str(tmp_path)))
    assert table.by == ("pool_name", "augment")
    best = {(table.settings[r]["pool_name"], table.settings[r]["augment"]) for r in table.best("MLP")}
    assert best == {("B", "none"), ("A", "dsa")}  # one per setting, not the DSA rows alone


# ---- a tiny sweep on a local Ray ------------------------------------------------------------------
@pytest.fixture(scope="module")
def augmented(tmp_path_factory, ray_local):
    """One trial and its random-real baseline, each evaluated without augmentation and with DSA."""
    from raydd.sweep.runner import run_sweep

    tmp_path = tmp_path_factory.mktemp("evalaxes")
    spec = _spec(tmp_path, "axes", augment=list(AUGMENTS))
    lines: list[str] = []
    outcome = run_sweep(spec, echo=lines.append)
    return spec, outcome, lines


def test_every_set_is_distilled_once_and_evaluated_under_every_setting(augmented):
    from raydd.sweep.runner import load_results

    spec, outcome, lines = augmented
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    assert len(outcome.trials) == 1
    assert any("each evaluated under 2 settings" in line for line in lines)
    df = load_results(outcome.results)
    keys = {(r.trial_key, r.eval_key, r.augment, r.kd) for r in df.itertuples()}
    assert len(df) == len(keys) == 8
    assert keys == {(p.trial_key, f"augment_{a}", a, kd) for p in spec.evaluated for a in AUGMENTS
                    for kd in (False, True)}
    assert set(df["lr"]) == {0.01} and set(df["epochs"]) == {5}
    for row in df.itertuples():
        assert json.loads(row.config_json)["evaluation"]["augment"] == row.augment
    for point in spec.evaluated:  # a teacher per set and augmentation
        for augment in AUGMENTS:
            assert storage.exists(SweepPaths(outcome.root).teacher(point.trial_key, 0, f"augment_{augment}"))


def test_results_show_puts_each_setting_on_its_own_rows(augmented):
    from raydd.cli.main import cli

    _, outcome, _ = augmented
    result = CliRunner().invoke(cli, ["results", "show", outcome.results, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert "augment" in rows[0] and "eval_key" not in rows[0]  # augment alone tells the settings apart
    assert sorted((r["method"], r["augment"], r["kd"]) for r in rows) == sorted(
        (method, augment, kd) for method in ("dc", "random_real") for augment in AUGMENTS for kd in ("off", "on"))
    assert {r["ConvNetW32 n"] for r in rows} == {"1"}  # one seed each: nothing pooled across settings
    text = CliRunner().invoke(cli, ["results", "show", outcome.results]).output
    assert "within each augment" in text  # the best mark is per setting


def test_status_counts_every_setting_and_a_resume_redoes_nothing(augmented):
    from raydd.sweep.runner import resume_sweep, sweep_status

    spec, outcome, _ = augmented
    storage_root = outcome.root.rsplit("/", 1)[0]
    status = sweep_status(spec.name, storage_root)
    assert (status.evaluations_total, status.evaluations_done) == (8, 8)
    results = SweepPaths(outcome.root).results
    written = {name: os.path.getmtime(os.path.join(results, name)) for name in os.listdir(results)}
    again = resume_sweep(spec.name, storage_root, echo=lambda line: None)
    assert again.complete, (again.trial_errors, again.evaluations)
    assert (again.evaluations["queued"], again.evaluations["rows_written"]) == (0, 0)
    assert {name: os.path.getmtime(os.path.join(results, name)) for name in os.listdir(results)} == written
