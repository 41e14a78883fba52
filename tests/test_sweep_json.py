"""`raydd sweep status|list|best --json`: one JSON document on stdout, its values those of the
sweep state on storage (made here by hand: markers, result rows, a stop request; no Ray)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep

from raydd import storage
from raydd.cli.main import cli
from raydd.core.evaluate import EvalRecord
from raydd.spec import load_spec
from raydd.sweep.context import SweepContext
from raydd.sweep.evaluation import MISSING, all_jobs, jobs_for, record_rows, write_job_rows
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import store_spec


def sweep_cli(*args):
    return CliRunner().invoke(cli, ["sweep", *args])


def json_of(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is the one document


def stored(tmp_path, raw: dict):
    spec = load_spec(write_sweep(tmp_path, raw), data="skip")
    paths = SweepPaths.of(spec.storage, spec.name)
    store_spec(spec, paths)
    return spec, paths


def write_row(spec, paths, job, test_acc: float) -> None:
    """The result file of `job`, as an evaluation actor writes it."""
    teacher = spec.evaluation.teacher if job.kd else None
    record = EvalRecord(job.student, teacher, job.kd, 0.5 if job.kd else None, 2.0 if job.kd else None,
                        job.seed, 0.4, test_acc, 1.5)
    context = SweepContext.of(spec, paths)
    write_job_rows(record_rows(record, job, context, {}, ("cpu", "127.0.0.1")), paths.result_file(job.name),
                   MISSING, paths)


def mark_done(paths, point) -> None:
    storage.write_text(paths.trial_done(point.trial_key), "done\n")


def test_status_json_counts_what_is_on_storage(tmp_path):
    spec, paths = stored(tmp_path, tiny_sweep("half", str(tmp_path / "runs")))
    first, second = spec.points
    mark_done(paths, first)
    write_row(spec, paths, jobs_for(first, spec.evaluation)[0], 0.3)
    storage.write_text(paths.stop_request, "stop\n")
    doc = json_of(sweep_cli("status", "half", "--storage", str(tmp_path / "runs"), "--json"))
    assert {k: doc[k] for k in ("name", "root", "state", "trials_done", "trials_total", "evaluations_done",
                                "evaluations_total")} == {
        "name": "half", "root": paths.root, "state": "stopped", "trials_done": 1, "trials_total": 2,
        "evaluations_done": 1, "evaluations_total": 4}
    assert doc["trials"] == {first.trial_key: "done", second.trial_key: "pending"}
    assert doc["trial_counts"] == {"done": 1, "running": 0, "failed": 0, "pending": 1}
    assert (doc["stop_requested"], doc["driver"], doc["ray_job"], doc["searched"]) == (True, None, None, [])
    assert doc["bad_results"] == {} and doc["overrides"] == []


def test_a_finished_sweep_is_complete_and_a_bad_result_file_is_named(tmp_path):
    spec, paths = stored(tmp_path, tiny_sweep("whole", str(tmp_path / "runs")))
    for point in spec.points:
        mark_done(paths, point)
    jobs = all_jobs(spec)
    for job in jobs:
        write_row(spec, paths, job, 0.5)
    assert json_of(sweep_cli("status", "whole", "--storage", str(tmp_path / "runs"), "--json"))["state"] == "complete"
    storage.write_text(paths.result_file(jobs[0].name), "not parquet")
    doc = json_of(sweep_cli("status", "whole", "--storage", str(tmp_path / "runs"), "--json"))
    assert doc["state"] == "incomplete" and doc["evaluations_done"] == len(jobs) - 1
    assert list(doc["bad_results"]) == [paths.result_file(jobs[0].name)]


def test_list_json_summarises_every_sweep_and_names_one_it_cannot_read(tmp_path):
    runs = tmp_path / "runs"
    done_spec, done_paths = stored(tmp_path, tiny_sweep("done", str(runs), seeds=(0,)))
    mark_done(done_paths, done_spec.points[0])
    for job in all_jobs(done_spec):
        write_row(done_spec, done_paths, job, 0.5)
    stored(tmp_path, tiny_sweep("fresh", str(runs)))
    (runs / "broken").mkdir()
    (runs / "broken" / "spec.yaml").write_text("name: [unclosed\n")
    (runs / "not-a-sweep").mkdir()  # no spec.yaml: not listed
    result = sweep_cli("list", "--storage", str(runs), "--json")
    doc = json_of(result)
    assert doc["storage"] == str(runs)
    broken, done, fresh = doc["sweeps"]
    assert done == {"name": "done", "root": done_paths.root, "state": "complete", "trials_done": 1,
                    "trials_total": 1, "evaluations_done": 2, "evaluations_total": 2}
    assert (fresh["state"], fresh["trials_done"], fresh["trials_total"], fresh["evaluations_total"]) == (
        "incomplete", 0, 2, 4)
    assert broken["state"] == "unreadable" and "invalid YAML" in broken["error"]
    assert "warning: sweep broken cannot be read" in result.stderr


def test_list_prints_a_line_per_sweep(tmp_path):
    stored(tmp_path, tiny_sweep("fresh", str(tmp_path / "runs")))
    result = sweep_cli("list", "--storage", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["fresh", "incomplete", "trials", "0/2", "evaluations", "0/4"]


def test_list_of_a_storage_that_does_not_exist_is_one_line(tmp_path):
    for args in ([], ["--json"]):
        result = sweep_cli("list", "--storage", str(tmp_path / "nothing"), *args)
        assert result.exit_code == 1 and result.output.count("\n") == 1
        assert f"no storage at {tmp_path / 'nothing'}" in result.output and result.stdout == ""
    (tmp_path / "empty").mkdir()
    assert json_of(sweep_cli("list", "--storage", str(tmp_path / "empty"), "--json"))["sweeps"] == []


def test_best_json_ranks_by_the_objective_and_averages_the_written_test_rows(tmp_path, monkeypatch):
    from test_search import search_sweep

    from raydd.spec.search import resolve_sample
    from raydd.sweep import search

    raw = search_sweep("searched", str(tmp_path / "runs"))
    raw["evaluation"]["seeds"] = 2
    spec, paths = stored(tmp_path, raw)
    point = spec.points[0]

    def trial(weight: float, objective, state: str):
        sampled = {"pool.others": "ConvNetW64", "pool.main_weight": weight, "init": "real"}
        return search.SearchedTrial(resolve_sample(point, spec.search, sampled), sampled, objective, 6, state)

    trials = [trial(0.6, 0.41, "done"), trial(0.7, 0.55, "done"), trial(0.8, None, "running"),
              trial(0.9, 0.3, "stopped")]
    # Tune's state is read by searched_trials (tests/test_search.py runs it); here its answer is given
    monkeypatch.setattr(search, "searched_trials", lambda spec, paths: trials)
    for acc, job in zip((0.2, 0.3), jobs_for(trials[1].point, spec.evaluation), strict=True):  # seeds 0, 1
        write_row(spec, paths, job, acc)
    result = sweep_cli("best", "searched", "--storage", str(tmp_path / "runs"), "--json", "--top", "2")
    doc = json_of(result)
    assert (doc["name"], doc["metric"], doc["mode"]) == ("searched", "probe_val_acc", "max")
    assert doc["ranked_trials"] == 3  # the running trial has no objective yet
    first, second = doc["best"]
    assert (first["rank"], first["trial_key"], first["objective"]) == (1, trials[1].point.trial_key, 0.55)
    assert first["test_acc"] == {"off": pytest.approx(0.25)} and first["sampled"]["pool.main_weight"] == 0.7
    assert (second["rank"], second["trial_key"], second["test_acc"]) == (2, trials[0].point.trial_key, {"off": None})
    text = sweep_cli("best", "searched", "--storage", str(tmp_path / "runs"), "--top", "2").output.splitlines()
    assert text[0] == "sweep searched: 3 searched trial(s) with a probe_val_acc (validation, max); the best 2, best first"
    assert text[1].split()[:4] == ["state", "iteration", "objective", "test"]
    assert text[2].split()[:4] == ["done", "6", "0.5500", "0.2500"] and text[3].split()[:4] == ["done", "6", "0.4100", "-"]
