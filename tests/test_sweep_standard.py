"""The evaluation standard in a sweep: label regimes as evaluation axes, the whole_dataset
baseline on the actor pool, test-max rows, and DD-Ranking's scores over a tiny sweep's rows."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep

from raydd import storage
from raydd.spec import SpecError, load_spec
from raydd.sweep.evaluation import all_jobs, jobs_for
from raydd.sweep.layout import SweepPaths
from raydd.sweep.regimes import whole_teacher_key


def _raw(tmp_path, name: str, grid: dict | None = None, **evaluation) -> dict:
    raw = tiny_sweep(name, str(tmp_path / "runs"), seeds=(0,))
    raw["grid"].update(grid or {})
    raw["evaluation"].update(evaluation)
    for axis in grid or {}:
        raw["evaluation"].pop(axis, None)
    return {**raw, "baselines": ["random_real", "whole_dataset"]}


def _spec(tmp_path, name: str, grid: dict | None = None, **evaluation):
    return load_spec(write_sweep(tmp_path, _raw(tmp_path, name, grid, **evaluation)))


def test_whole_dataset_is_one_baseline_trained_kd_off_under_hard_labels_only(tmp_path):
    spec = _spec(tmp_path, "jobs", {"labels": ["hard", "relabel"], "temperatures": [1, 4]}, whole_epochs=2)
    whole = next(p for p in spec.baselines if p.baseline == "whole_dataset")
    assert [p.trial_key for p in spec.baselines] == ["random_real-ipc1-seed0", "whole_dataset"]
    jobs = jobs_for(whole, spec.evaluation)
    assert len(spec.evaluation.settings) == 4 and len(jobs) == 1  # hard labels, one of two identical settings
    assert not jobs[0].kd and jobs[0].setting.config.labels == "hard"
    relabel = [j for j in jobs_for(spec.points[0], spec.evaluation) if j.setting.config.labels == "relabel"]
    assert relabel and not any(j.kd for j in relabel)  # relabelling is a teacher's labels already: no KD
    assert len({j.name for j in all_jobs(spec)}) == len(all_jobs(spec))


def test_the_whole_split_may_have_fewer_evaluation_seeds(tmp_path):
    spec = _spec(tmp_path, "fewer", seeds=3, whole_seeds=1, whole_epochs=1)
    whole = next(p for p in spec.baselines if p.baseline == "whole_dataset")
    assert {j.seed for j in jobs_for(whole, spec.evaluation)} == {0}
    assert {j.seed for j in jobs_for(spec.points[0], spec.evaluation)} == {0, 1, 2}
    plain = _spec(tmp_path, "plain")
    assert "whole_seeds" not in json.dumps(plain.describe())  # absent: the sweep's hash as before
    with pytest.raises(SpecError, match="evaluation.whole_seeds: must be a positive integer, got 0"):
        _spec(tmp_path, "zero", whole_seeds=0)


def test_the_whole_data_teacher_is_keyed_by_its_own_training(tmp_path):
    spec = _spec(tmp_path, "keys", {"labels": ["relabel", "soft"], "temperatures": [1, 4]}, whole_epochs=2)
    keys = {whole_teacher_key(s) for s in spec.evaluation.settings}
    assert len(keys) == 1  # every setting trains it identically: one teacher for the sweep


@pytest.mark.parametrize("evaluation, grid, message", [
    ({}, {"labels": ["hard", "fuzzy"]}, "grid.labels[1]"),
    ({"labels": "fuzzy"}, {}, "evaluation.labels: must be one of hard, soft, relabel, got 'fuzzy'"),
    ({"selection": "best"}, {}, "evaluation.selection: must be one of validation, test-max"),
    ({"whole_epochs": 0}, {}, "evaluation.whole_epochs: "),
])
def test_a_bad_regime_or_selection_is_a_problem_with_its_place(tmp_path, evaluation, grid, message):
    with pytest.raises(SpecError) as caught:
        _spec(tmp_path, "bad", grid, **evaluation)
    assert message in str(caught.value)


def test_an_unknown_baseline_is_a_problem(tmp_path):
    raw = {**_raw(tmp_path, "unknown"), "baselines": ["random_real", "whole_data"]}
    with pytest.raises(SpecError, match="unknown baseline 'whole_data'; known: random_real, whole_dataset"):
        load_spec(write_sweep(tmp_path, raw))


@pytest.fixture(scope="module")
def standard(tmp_path_factory, ray_local):
    """One trial, its random-real set and the whole split, under hard labels and relabelling by the
    whole-data teacher, with KD off and on."""
    from raydd.sweep.runner import run_sweep

    tmp_path = tmp_path_factory.mktemp("standard")
    spec = _spec(tmp_path, "standard", {"labels": ["hard", "relabel"]}, whole_epochs=1)
    outcome = run_sweep(spec, echo=lambda line: None)
    return spec, outcome


def test_a_sweep_evaluates_the_whole_split_and_the_regimes_on_the_pool(standard):
    from raydd.sweep.runner import load_results

    spec, outcome = standard
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    df = load_results(outcome.results)
    whole = df[df["method"] == "whole_dataset"]
    assert len(whole) == 1 and (whole["ipc"] == 0).all() and (whole["epochs"] == 1).all() and not whole["kd"].any()
    relabelled = df[df["labels"] == "relabel"]
    assert set(relabelled["method"]) == {"dc", "random_real"} and not relabelled["kd"].any()
    assert len(df[df["labels"] == "hard"]) == 5  # (dc, random) x kd off/on + the whole split
    setting = next(s for s in spec.evaluation.settings if s.config.labels == "relabel")
    assert storage.exists(SweepPaths(outcome.root).whole_teacher(whole_teacher_key(setting)))


def test_show_scores_over_a_sweeps_rows(standard):
    from raydd.cli.main import cli

    _, outcome = standard
    result = CliRunner().invoke(cli, ["results", "show", outcome.results, "--scores", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert len(rows) == 3  # the dc set: hard kd off, hard kd on, relabel
    assert all(row["HLR"] and row["IOR"] and row["LRS"] for row in rows)
