"""An MTT sweep end to end on a local Ray: its expert stage trains each expert once (two points
share one architecture), the trials distil from the store, the sets' rows carry their learned lr."""

from __future__ import annotations

import pytest
from sweep_support import tiny_sweep, write_sweep

from raydd.spec import load_spec
from raydd.sweep.runner import load_results, run_sweep

pytestmark = pytest.mark.usefixtures("ray_local")

# MTT at its smallest: one expert per architecture, trained one epoch without augmentation;
# 3 iterations of 2 student steps from epoch 0 to epoch 1.
TINY_MTT = {"method": "mtt", "iterations": 3, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 1,
            "num_experts": 1, "train_epochs": 1, "augment_teacher": "none"}
POOLS = [{"archs": ["MLP"]}, {"archs": ["MLP", "ConvNetD1"], "probabilities": [0.5, 0.5]}]


def tiny_mtt_sweep(tmp_path, name: str) -> dict:
    raw = tiny_sweep(name, str(tmp_path / "runs"), seeds=(0,), students=("MLP",))
    raw["distill"] = dict(TINY_MTT)
    raw["grid"] = {"ipc": [1], "seed": [0], "pool": POOLS}
    raw["evaluation"] = {**raw["evaluation"], "teacher": "MLP"}
    return raw


def test_an_mtt_sweep_trains_each_expert_once_and_its_rows_carry_the_learned_lr(tmp_path):
    from raydd.sweep.artifacts import load_synset_from
    from raydd.sweep.experts_stage import run_expert_stage

    spec = load_spec(write_sweep(tmp_path, tiny_mtt_sweep(tmp_path, "mtt")))
    lines: list[str] = []
    outcome = run_sweep(spec, echo=lines.append)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    stage = [line for line in lines if line.startswith("[experts]")]
    assert stage[0] == "[experts] 2 expert(s) for 2 MTT point(s)"  # MLP shared by both points: once
    assert stage[-1] == "[experts] 2 trained, 0 retrained, 0 reused"
    assert sum("trained in" in line for line in stage) == 2
    rows = load_results(outcome.results)
    assert len(rows) == 2 * 2 and set(rows["method"]) == {"mtt"}
    for trial_key, group in rows.groupby("trial_key"):
        synset = load_synset_from(group["synset_uri"].iloc[0])
        assert synset.meta["experts_storage"] == spec.experts_root
        assert list(group["learned_lr"]) == list(group["lr"]) == [synset.meta["learned_lr"]] * 2
    again: list[str] = []  # a later stage (a resume, another sweep of this storage) trains nothing
    assert {o.status for o in run_expert_stage(spec, again.append)} == {"reused"}
    assert again[-1] == "[experts] 0 trained, 0 retrained, 2 reused"


def test_a_stop_asked_during_the_expert_stage_starts_no_trial(tmp_path, monkeypatch):
    from raydd.sweep import runner
    from raydd.sweep.experts_stage import run_expert_stage

    spec = load_spec(write_sweep(tmp_path, tiny_mtt_sweep(tmp_path, "mttstop")))

    def stage_then_stop(spec, echo):  # the stop arrives while the experts train
        outcomes = run_expert_stage(spec, echo)
        runner.request_stop(spec.name, spec.storage)
        return outcomes

    monkeypatch.setattr(runner, "run_expert_stage", stage_then_stop)
    outcome = run_sweep(spec, echo=lambda line: None)
    assert outcome.stopped and outcome.trials == {}
    assert not any((tmp_path / "runs" / "mttstop" / "synsets").glob("ipc1-*"))  # no point distilled
    assert len(list((tmp_path / "runs" / "experts").glob("digits/*/*/trajectory.safetensors"))) == 2  # kept
