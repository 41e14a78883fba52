"""The study rows kept under studies/: each part is the named sweep file with the overrides it
records, complete (every job's row, once) and nothing else, so tables built from them are the
study's and a later part can be read beside them. A part whose trial failed names it in failed.json
(trial key -> the error): that trial has neither rows nor a set, every other one has both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_support import row_keys

from raydd.results import load
from raydd.spec import load_spec
from raydd.spec.overrides import parse_override
from raydd.sweep.evaluation import all_jobs

ROOT = Path(__file__).resolve().parents[1]
PARTS = sorted(p.parent for p in (ROOT / "studies").glob("*/*/overrides.json"))


def _spec(part: Path):
    overrides = json.loads((part / "overrides.json").read_text())["overrides"]
    sweep_file = ROOT / "sweeps" / f"{part.parent.name}.yaml"
    return load_spec(sweep_file, data="skip", overrides=[parse_override(o) for o in overrides])


def _failed(part: Path) -> dict[str, str]:
    path = part / "failed.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_there_are_study_parts_to_check():
    assert PARTS, "no studies/<study>/<part>/overrides.json found"


@pytest.mark.parametrize("part", PARTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_study_part_holds_every_row_of_its_sweep_once(part):
    spec = _spec(part)
    df = load(str(part / "results"))
    keys = row_keys(df)
    # the sweep's own job list: whole_dataset rows have their own seeds and no KD
    failed = _failed(part)
    assert set(failed) <= {point.trial_key for point in spec.points}
    jobs = {(job.point.trial_key, job.student, job.kd, job.seed) for job in all_jobs(spec)
            if job.point.trial_key not in failed}
    assert len(keys) == len(set(keys)) and set(keys) == jobs
    assert {json.loads(c)["sweep_hash"] for c in df["config_json"]} == {spec.experiment_hash()}
    assert set(df["sweep"]) == {spec.name}


@pytest.mark.parametrize("part", PARTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_study_part_keeps_each_distilled_set(part):
    failed = _failed(part)
    for point in _spec(part).points:
        kept = part / "synsets" / point.trial_key
        if point.trial_key in failed:
            assert not kept.exists(), kept
            continue
        assert {f.name for f in kept.iterdir()} >= {"images.safetensors", "meta.json", "grid.png"}, kept
