"""A sweep's expert stage (raydd.sweep.experts_stage): the union of what MTT points need, trained
as Ray tasks only where the store lacks it or holds it damaged."""

from __future__ import annotations

import pytest

from raydd.core.experts import ExpertError, ExpertIdentity, ExpertSettings, ExpertStore
from raydd.spec import DatasetSpec
from raydd.sweep.experts_stage import ensure_experts, sweep_carve, union_of_needs

FAST = ExpertSettings(epochs=1, augment="none")  # an MLP expert of one epoch: about a second on digits
CARVE = sweep_carve(DatasetSpec("digits", val_size=0.1))


def test_the_carve_names_the_experts_a_trial_loads_by():
    from raydd.core.datasets import load_dataset

    loaded = load_dataset("digits", val_size=0.1)  # as SweepContext.load_data loads it
    assert ExpertIdentity.of(CARVE, "MLP", FAST, 3) == ExpertIdentity.of(loaded, "MLP", FAST, 3)


def test_points_that_share_an_architecture_share_its_experts():
    needed = union_of_needs(CARVE, [(("ConvNetW32",), FAST, 2), (("ConvNetW32", "MLP"), FAST, 2)])
    assert [(i.arch, i.seed) for i in needed] == [("ConvNetW32", 0), ("ConvNetW32", 1), ("MLP", 0), ("MLP", 1)]
    other = ExpertSettings(epochs=2, augment="none")  # other settings: other experts
    more = union_of_needs(CARVE, [(("MLP",), FAST, 1), (("MLP",), other, 1), (("MLP",), FAST, 1)])
    assert [i.settings.epochs for i in more] == [1, 2]


def test_a_second_stage_trains_nothing_and_a_damaged_expert_is_retrained(tmp_path, ray_local):
    needed = union_of_needs(CARVE, [(("MLP",), FAST, 2)])
    lines: list[str] = []

    def stage() -> dict[str, str]:
        lines.clear()
        outcomes = ensure_experts(tmp_path / "experts", needed, None, lines.append, cpus=1, gpus=0)
        return {f"{o.identity.arch}{o.identity.seed}": o.status for o in outcomes}

    assert stage() == {"MLP0": "trained", "MLP1": "trained"}
    assert lines[-1] == "[experts] 2 trained, 0 retrained, 0 reused"
    assert stage() == {"MLP0": "reused", "MLP1": "reused"}
    assert lines[0].endswith("2 complete, 0 to train")
    trajectory = ExpertStore(tmp_path / "experts").directory(needed[1]) / "trajectory.safetensors"
    trajectory.write_bytes(trajectory.read_bytes()[:-8])  # truncated: damaged
    assert stage() == {"MLP0": "reused", "MLP1": "retrained"}
    assert any("MLP seed 1" in line and "retrained in" in line and "damaged" in line for line in lines)
    assert ExpertStore(tmp_path / "experts").problem(needed[1]) is None


def test_a_directory_not_the_stores_fails_before_any_training(tmp_path):
    needed = union_of_needs(CARVE, [(("MLP",), FAST, 2)])
    store = ExpertStore(tmp_path / "experts")
    foreign = store.directory(needed[1])
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ExpertError, match="raydd leaves it alone"):
        ensure_experts(store.root, needed, None, lambda line: None, cpus=1, gpus=0)  # no Ray needed to fail
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not store.directory(needed[0]).exists()
