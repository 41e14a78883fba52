"""`baselines_only: true`: a sweep that draws and evaluates its baselines without distilling, so a
study too long for one sitting runs in parts whose rows read together as the whole study's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_support import tiny_sweep, write_sweep

from raydd.spec import SpecError, load_spec
from raydd.spec.overrides import parse_override
from raydd.sweep.dry_run import plan
from raydd.sweep.evaluation import all_jobs

ROOT = Path(__file__).resolve().parents[1]
STANDARD = ROOT / "sweeps" / "fashion_mnist_standard.yaml"
POOL_OFF = "grid.pool=[{archs: [ConvNetW32], probabilities: [1.0]}]"
POOL_ON = "grid.pool=[{main: ConvNetW32, others: [ConvNetW64, ConvNetD1], main_weight: 0.9}]"


def _raw(tmp_path, name: str, **top) -> dict:
    raw = tiny_sweep(name, str(tmp_path / "runs"), seeds=(0, 1))
    return {**raw, "baselines": ["random_real", "whole_dataset"], **top}


def _standard(*overrides: str):
    return load_spec(STANDARD, data="skip", overrides=[parse_override(o) for o in overrides])


def test_only_the_baselines_are_evaluated(tmp_path):
    full = load_spec(write_sweep(tmp_path, _raw(tmp_path, "full")))
    only = load_spec(write_sweep(tmp_path, _raw(tmp_path, "only", baselines_only=True)))
    assert len(full.points) == 2 and only.points == ()
    assert only.baselines == full.baselines  # random_real per (ipc, seed) of the grid, the whole split
    assert {j.trial_key for j in all_jobs(only)} == {"random_real-ipc1-seed0", "random_real-ipc1-seed1",
                                                        "whole_dataset"}
    planned = plan(only, cores=2)
    assert planned.trial_count == 0 and {g.kind for g in planned.groups} == {"random_real", "whole_dataset"}
    assert only.experiment_hash() != full.experiment_hash()


@pytest.mark.parametrize("baseline_parts", [
    (("baselines_only=true", "name=part_c"),),
    (("baselines_only=true", "baselines=[whole_dataset]", "name=part_c1"),
     ("baselines_only=true", "baselines=[random_real]", "name=part_c2")),
], ids=["c", "c1+c2"])
def test_the_standard_study_in_parts_is_the_whole_study(baseline_parts):
    whole = _standard()
    parts = [_standard(POOL_OFF, "baselines=[]", "name=part_a"),
             _standard(POOL_ON, "baselines=[]", "name=part_b"),
             *(_standard(*overrides) for overrides in baseline_parts)]
    in_parts = sorted(repr(job) for part in parts for job in all_jobs(part))
    assert in_parts == sorted(repr(job) for job in all_jobs(whole))  # the same sets, settings and seeds


def _random_real_jobs(spec) -> list[tuple]:
    """What a random_real job's rows depend on: the draw (dataset and its split, ipc, seed) and the
    evaluation (student, KD, seed, settings); not the distillation settings it carries unread."""
    return sorted((repr(spec.dataset), job.point.trial_key, job.point.config.dataset, job.point.config.ipc,
                   job.point.config.seed, job.student, job.kd, job.seed, repr(job.setting))
                  for job in all_jobs(spec) if job.point.baseline == "random_real")


def test_the_mtt_study_draws_and_evaluates_the_standard_study_random_sets():
    """So the MTT study reads its random-real rows from the standard study's part c and runs its own
    two distilling parts alone (sweeps/fashion_mnist_mtt.yaml)."""
    mtt = load_spec(ROOT / "sweeps" / "fashion_mnist_mtt.yaml", data="skip")
    standard = _random_real_jobs(_standard())
    assert len(standard) == 3 * 6 * 2 * 3 and _random_real_jobs(mtt) == standard


@pytest.mark.parametrize("top, message", [
    ({"baselines": []}, "baselines_only: true needs something to evaluate: a `baselines` list or evaluation.sets"),
    ({"baselines_only": "yes"}, "baselines_only: must be true or false"),
    ({"probe": {"students": ["MLP"], "epochs": 2},
      "search": {"algorithm": "random", "num_samples": 2, "space": {"init": {"choice": ["real", "noise"]}}}},
     "baselines_only: true distills nothing, so `search` has nothing to sample"),
])
def test_a_baselines_only_sweep_with_nothing_to_do_is_refused_with_its_place(tmp_path, top, message):
    raw = {**_raw(tmp_path, "bad", baselines_only=True), **top}
    with pytest.raises(SpecError) as caught:
        load_spec(write_sweep(tmp_path, raw))
    assert message in str(caught.value)


def test_a_baselines_only_sweep_writes_baseline_rows_alone(tmp_path, ray_local):
    from raydd.sweep.runner import load_results, run_sweep

    raw = _raw(tmp_path, "run", baselines_only=True, baselines=["random_real"])
    outcome = run_sweep(load_spec(write_sweep(tmp_path, raw)), echo=lambda line: None)
    assert outcome.complete and outcome.trials == {}, (outcome.trial_errors, outcome.evaluations)
    df = load_results(outcome.results)
    assert set(df["method"]) == {"random_real"} and set(df["trial_key"]) == {"random_real-ipc1-seed0",
                                                                             "random_real-ipc1-seed1"}
    assert len(df) == 2 * 2  # two sets x KD off/on x one student, one seed
