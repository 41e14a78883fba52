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
