"""The `experts_storage` key: where a sweep's MTT points keep their experts, refused with its
place when it cannot hold them."""

from __future__ import annotations

import pytest

from raydd.spec import SpecError, parse_spec

BASE = {"name": "e", "dataset": "digits", "evaluation": {"students": ["ConvNetW32"]}}


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, data="skip")
    return caught.value.problems


@pytest.mark.parametrize("value, expected", [
    ("s3://bucket/experts", "experts_storage: must be a local or shared directory (the expert store is one), "
                            "got 's3://bucket/experts'"),
    (5, "experts_storage: must be a directory path, got 5"),
    ("  ", "experts_storage: must be a directory path, got '  '"),
])
def test_an_experts_storage_that_is_no_directory_is_refused_with_its_place(value, expected):
    assert problems_of({**BASE, "experts_storage": value}) == [expected]


def test_the_default_store_is_under_the_storage_and_a_named_one_is_taken_as_given(tmp_path):
    spec = parse_spec({**BASE, "storage": str(tmp_path / "runs")}, data="skip")
    assert spec.experts_root == str(tmp_path / "runs" / "experts")
    named = parse_spec({**BASE, "experts_storage": str(tmp_path / "shared")}, data="skip")
    assert named.experts_root == str(tmp_path / "shared")


def test_where_the_experts_live_is_not_part_of_the_experiment(tmp_path):
    one = parse_spec(BASE, data="skip")
    other = parse_spec({**BASE, "experts_storage": str(tmp_path)}, data="skip")
    assert one.experiment_hash() == other.experiment_hash()


MTT = {"method": "mtt", "num_experts": 2, "train_epochs": 3, "expert_epochs": 1, "max_start_epoch": 2}


def mtt_sweep(**top) -> dict:
    return {**BASE, "distill": dict(MTT), **top}


def test_mtt_points_on_an_object_store_need_an_experts_storage():
    assert problems_of(mtt_sweep(storage="s3://bucket/runs")) == [
        "experts_storage: missing: the MTT points' experts live in a local or shared directory, and storage "
        "s3://bucket/runs is not one; set experts_storage to such a path"]
    named = parse_spec(mtt_sweep(storage="s3://bucket/runs", experts_storage="/shared/experts"), data="skip")
    assert named.experts_root == "/shared/experts"
    assert parse_spec({**BASE, "storage": "s3://bucket/runs"}, data="skip").points  # no MTT point: no store


def test_a_storage_override_to_an_object_store_is_refused_for_mtt_points(tmp_path):
    spec = parse_spec(mtt_sweep(storage=str(tmp_path)), data="skip")
    with pytest.raises(SpecError) as caught:
        spec.with_storage("s3://bucket/runs")
    assert caught.value.problems[0].startswith("experts_storage: missing: the MTT points' experts")


def test_a_sweep_named_like_the_default_expert_store_is_refused():
    assert problems_of(mtt_sweep(name="experts")) == [
        "name: 'experts' is the directory of the experts under the storage (experts/); give the sweep another "
        "name, or set experts_storage"]
    assert parse_spec(mtt_sweep(name="experts", experts_storage="/shared/experts"), data="skip").points


def test_mtt_points_that_share_an_architecture_need_its_experts_once():
    from raydd.sweep.experts_stage import needed_experts

    grid = {"pool": [{"archs": ["ConvNetW32"]}, {"main": "ConvNetW32", "others": ["ConvNetD1"], "main_weight": 0.9}]}
    spec = parse_spec(mtt_sweep(grid=grid), data="skip")
    assert [(i.arch, i.seed) for i in needed_experts(spec)] == [
        ("ConvNetW32", 0), ("ConvNetW32", 1), ("ConvNetD1", 0), ("ConvNetD1", 1)]
    assert {i.settings.epochs for i in needed_experts(spec)} == {3}


@pytest.mark.parametrize("key, space", [
    ("train_epochs", {"train_epochs": {"choice": [3, 4]}}),
    ("pool.others", {"pool": {"main": "ConvNetW32", "others": {"choice": [["ConvNetD1"], ["MLP"]]},
                              "main_weight": 0.9}}),
])
def test_a_search_that_would_sample_the_experts_of_mtt_points_is_refused_at_its_key(key, space):
    raw = mtt_sweep(probe={"students": ["MLP"], "epochs": 5}, search={"space": space, "num_samples": 2})
    raw["distill"] = {k: v for k, v in raw["distill"].items() if k not in space}  # searched, not fixed
    problems = problems_of(raw)
    assert f"search.space.{key}: would change the experts of MTT points, which the expert stage trains before " \
           "the trials; make it a grid axis" in problems, problems


@pytest.mark.parametrize("evaluation, place", [
    ({"labels": "soft"}, "evaluation.labels"),
    ({"labels": "relabel", "relabel_teacher": "whole"}, "evaluation.labels"),
])
def test_zca_mtt_sets_under_labels_of_the_whole_data_teacher_are_refused_at_their_place(evaluation, place):
    raw = mtt_sweep(evaluation={"students": ["ConvNetW32"], **evaluation})
    raw["distill"]["zca"] = True
    assert problems_of(raw) == [f"{place}: {evaluation['labels']} would have the ZCA-whitened sets of MTT points "
                                "(zca: true) labelled by a teacher trained on plain images; use hard"]
    raw["distill"]["zca"] = False  # plain images: the whole-data teacher can label them
    assert parse_spec(raw, data="skip").points


def test_a_labels_axis_that_needs_the_whole_data_teacher_is_refused_on_the_grid():
    raw = mtt_sweep(grid={"labels": ["hard", "soft"]})
    raw["distill"]["zca"] = True
    assert [p.split(":")[0] for p in problems_of(raw)] == ["grid.labels"]


def test_the_image_gradient_clip_is_refused_with_its_place_and_left_out_of_the_hash_when_unset():
    problems = problems_of(mtt_sweep(distill={**MTT, "max_img_grad_norm": -1}))
    assert len(problems) == 1 and problems[0].startswith("distill.max_img_grad_norm: ") \
        and "must be a finite number > 0 or None (no clip), got -1" in problems[0], problems
    unset = parse_spec(mtt_sweep(), data="skip")
    assert "max_img_grad_norm" not in unset.points[0].config.to_dict()  # older sweeps keep their hash
    clipped = parse_spec(mtt_sweep(distill={**MTT, "max_img_grad_norm": 0.1}), data="skip")
    assert clipped.points[0].config.settings.max_img_grad_norm == 0.1
    assert clipped.experiment_hash() != unset.experiment_hash()
