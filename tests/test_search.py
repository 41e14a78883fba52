"""Searched sweeps: the `probe`/`search` sections, and a small search run end to end on Ray."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from raydd.spec import SpecError, parse_spec
from raydd.spec.search import resolve_sample
from sweep_support import tiny_sweep, write_sweep

SPACE = {"pool": {"main": "ConvNetW32", "others": {"choice": [["ConvNetW64"], ["ConvNetD1", "ConvNetW64"]]},
                  "main_weight": {"uniform": [0.5, 1.0]}},
         "init": {"choice": ["real", "noise"]}}


def search_sweep(name: str, storage: str, **search) -> dict:
    raw = tiny_sweep(name, storage, seeds=(0,), iterations=6, max_concurrent_trials=1)
    del raw["grid"]["pool"]
    raw["probe"] = {"students": ["MLP"], "epochs": 20, "report_every": 2}
    raw["search"] = {"algorithm": "random", "num_samples": 4, "max_concurrent": 1, "seed": 3, "space": SPACE,
                     "scheduler": {"asha": {"grace_period": 2, "reduction_factor": 2}}, **search}
    raw["evaluation"]["kd"] = ["off"]
    return raw


def test_a_search_section_parses_and_a_sample_resolves_to_its_own_point(tmp_path):
    spec = parse_spec(search_sweep("s", str(tmp_path)))
    assert spec.search.asha.grace_period == 2 and spec.probe.students == ("MLP",)
    point = spec.points[0]
    sampled = {"pool.others": "ConvNetD1+ConvNetW64", "pool.main_weight": 0.75, "init": "noise"}
    resolved = resolve_sample(point, spec.search, sampled)
    assert resolved.config.pool.name == "ConvNetW32=0.75,ConvNetD1=0.125,ConvNetW64=0.125"
    assert resolved.config.init == "noise" and resolved.config.seed == point.config.seed
    assert resolved.trial_key.startswith(point.trial_key) and "main_weight0.75" in resolved.trial_key
    near = resolve_sample(point, spec.search, {**sampled, "pool.main_weight": 0.7500001})
    assert near.trial_key != resolved.trial_key  # printed alike, still two distillations


def test_a_bad_search_section_gets_every_problem_at_once(tmp_path):
    raw = search_sweep("s", str(tmp_path), algorithm="grid", num_samples=0, mode="best", metric="loss")
    raw["search"]["space"] = {"pool": {"main": "ConvNetW32", "main_weight": {"uniform": [0.9, 0.2]}},
                              "lr_img": 0.1, "seed": {"choice": [0]}, "lr_imgg": {"uniform": [0.1, 1]},
                              "outer_loop": {"loguniform": [0, 3]}}
    raw["search"]["scheduler"] = {"asha": {"grace_period": 6, "reduction_factor": 1}}
    with pytest.raises(SpecError) as error:
        parse_spec(raw)
    places = [p.split(":")[0] for p in error.value.problems]
    assert places == ["search.algorithm", "search.num_samples", "search.metric", "search.mode",
                      "search.scheduler.asha.reduction_factor", "search.scheduler.asha.grace_period",
                      "search.space.lr_imgg", "search.space.pool.main_weight.uniform",
                      "search.space.lr_img", "search.space.seed",
                      "search.space.outer_loop.loguniform[0]"], error.value.problems


def test_a_search_needs_a_probe(tmp_path):
    raw = search_sweep("s", str(tmp_path))
    del raw["probe"]
    with pytest.raises(SpecError) as error:
        parse_spec(raw)
    assert any(p.startswith("search: needs a probe section") for p in error.value.problems)


def test_a_search_sweep_evaluates_its_completed_trials_and_asha_stops_poor_ones(ray_local, tmp_path):
    from ray import tune

    from raydd.spec import load_spec
    from raydd.sweep.runner import load_results, run_sweep

    spec = load_spec(write_sweep(tmp_path, search_sweep("searched", str(tmp_path / "runs"))))
    lines = []
    outcome = run_sweep(spec, echo=lines.append, start_ray=lambda: None)
    assert not outcome.trial_errors and not outcome.evaluations["failed"]
    frame = tune.ExperimentAnalysis(f"{outcome.root}/tune/{spec.points[0].trial_key}").dataframe()
    assert len(frame) == 4 and frame["probe_val_acc"].notna().all() and frame["probe_val_acc_MLP"].notna().all()
    trials = outcome.trials  # trial key -> its last result, as Tune's ResultGrid gives it
    assert len(trials) == 4
    # a trial that distilled its whole set handed it over (Tune's own `done` marks stopped ones too)
    completed = {key: m for key, m in trials.items() if "evaluations_queued" in m}
    stopped = [m for m in trials.values() if "evaluations_queued" not in m]
    seen = [(m["config"]["search"]["init"], m["iteration"], m["probe_val_acc"]) for m in trials.values()]
    # init noise scores near chance after 2 iterations: ASHA stops it at its first rung
    assert stopped and all(m["iteration"] < 6 for m in stopped), seen
    assert all(m in stopped for m in trials.values() if m["config"]["search"]["init"] == "noise"), seen
    assert completed, seen
    rows = load_results(outcome.results)
    assert set(rows.trial_key) == set(completed)
    # the driver says how each trial ended: its set queued for evaluation, or stopped by ASHA
    endings = [line for line in lines if line.endswith(("queued", "not evaluated"))]
    expected = [f"[trial] {key} distilled; 1 evaluation job(s) queued" for key in completed] + [
        f"[trial] {key} stopped by the scheduler at iteration {m['iteration']}; not evaluated"
        for key, m in trials.items() if key not in completed]
    assert sorted(endings) == sorted(expected), endings
    for key, metrics in completed.items():
        assert set(rows[rows.trial_key == key].pool_name) == {_pool_name(metrics["config"]["search"])}
    _status_shows_every_searched_trial(spec, trials)
    _best_ranks_the_completed_by_their_objective(spec, completed, rows)


def _status_shows_every_searched_trial(spec, trials: dict) -> None:
    from raydd.cli.main import cli
    from raydd.sweep.runner import sweep_status

    status = sweep_status(spec.name, spec.storage)
    completed = [key for key, m in trials.items() if "evaluations_queued" in m]
    assert status.counts == {"done": len(completed), "running": 0, "failed": 0, "pending": 0,
                             "stopped": len(trials) - len(completed)}
    assert status.evaluations_total == status.evaluations_done == len(completed)  # 1 student, kd off, 1 seed
    output = CliRunner().invoke(cli, ["sweep", "status", spec.name, "--storage", spec.storage]).output
    for key, metrics in trials.items():
        line = next(line for line in output.splitlines() if line.rstrip().endswith(key))
        state = "done" if key in completed else "stopped"
        assert line.split()[:3] == [state, str(metrics["iteration"]), f"{metrics['probe_val_acc']:.4f}"], output
        assert f"pool.main_weight={metrics['config']['search']['pool.main_weight']:.4g}" in line


def _best_ranks_the_completed_by_their_objective(spec, completed: dict, rows) -> None:
    from raydd.cli.main import cli

    result = CliRunner().invoke(cli, ["sweep", "best", spec.name, "--storage", spec.storage, "--top", "2"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.split()[:1] in (["done"], ["stopped"])]
    assert len(lines) == 2
    objectives = [float(line.split()[2]) for line in lines]
    assert objectives == sorted(objectives, reverse=True)
    best_done = next((line for line in lines if line.split()[0] == "done"), None)
    if best_done:  # its test accuracy is the mean of its rows
        key = best_done.split()[-1]
        assert f"{rows[rows.trial_key == key].test_acc.mean():.4f}" == best_done.split()[3]
    _best_says_why_a_result_file_goes_unread(spec)


def _best_says_why_a_result_file_goes_unread(spec) -> None:
    """An empty result file beside the rows: the ranking still shows, with a warning naming it."""
    import pyarrow.parquet as pq

    from raydd.cli.main import cli
    from raydd.sweep.layout import SweepPaths

    results = Path(SweepPaths.of(spec.storage, spec.name).results)
    empty = results / "emptied.parquet"
    pq.write_table(pq.read_table(next(results.glob("*.parquet"))).slice(0, 0), empty)
    try:
        result = CliRunner().invoke(cli, ["sweep", "best", spec.name, "--storage", spec.storage])
    finally:
        empty.unlink()
    assert result.exit_code == 0, result.output
    assert f"warning: no test accuracies shown: {empty} is empty: it holds no rows" in result.stderr
    assert any(line.split()[:1] == ["done"] for line in result.stdout.splitlines())


def test_a_resumed_search_continues_its_searcher_instead_of_restarting(ray_local, tmp_path):
    pytest.importorskip("optuna")
    from ray import tune

    from raydd.spec import load_spec
    from raydd.sweep.runner import load_results, request_stop, resume_sweep, run_sweep
    from raydd.sweep.trial import trial_key

    raw = search_sweep("resumed", str(tmp_path / "runs"), algorithm="optuna")
    del raw["search"]["scheduler"]  # every trial distils its whole set: 4 sets in all
    spec = load_spec(write_sweep(tmp_path, raw))
    finished = []

    def stop_after_two(line: str) -> None:
        if line.endswith("evaluation job(s) queued"):
            finished.append(line)
            if len(finished) == 2:
                request_stop(spec.name, spec.storage)

    first = run_sweep(spec, echo=stop_after_two, start_ray=lambda: None)
    assert first.stopped and len(finished) == 2
    experiment = f"{first.root}/tune/{spec.points[0].trial_key}"
    sampled_before = {trial_key(t.config) for t in tune.ExperimentAnalysis(experiment).trials}

    second = resume_sweep(spec.name, spec.storage, echo=lambda line: None)
    assert second.complete, (second.trial_errors, second.evaluations)
    keys = {trial_key(t.config) for t in tune.ExperimentAnalysis(experiment).trials}
    assert len(keys) == 4 and sampled_before <= keys  # 4 samples in all, the first ones kept
    assert set(load_results(second.results).trial_key) == keys


def _pool_name(sampled: dict) -> str:
    others = sampled["pool.others"].split("+")
    from raydd.core.pool import PoolSpec
    from raydd.spec.search import WEIGHT_DECIMALS

    weight = round(sampled["pool.main_weight"], WEIGHT_DECIMALS)  # names show the weight as used
    rest = (1 - weight) / len(others)

    return PoolSpec.main_share("ConvNetW32", others, weight).name if rest else f"ConvNetW32={weight}"
