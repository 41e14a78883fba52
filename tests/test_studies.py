"""The study rows kept under studies/: each part is the named sweep file with the overrides it
records, complete (every job's row, once) and nothing else, so tables built from them are the
study's and a later part can be read beside them."""

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


def test_there_are_study_parts_to_check():
    assert PARTS, "no studies/<study>/<part>/overrides.json found"


@pytest.mark.parametrize("part", PARTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_study_part_holds_every_row_of_its_sweep_once(part):
    spec = _spec(part)
    df = load(str(part / "results"))
    keys = row_keys(df)
    # the sweep's own job list: whole_dataset rows have their own seeds and no KD
    jobs = {(job.point.trial_key, job.student, job.kd, job.seed) for job in all_jobs(spec)}
    assert len(keys) == len(set(keys)) and set(keys) == jobs
    assert {json.loads(c)["sweep_hash"] for c in df["config_json"]} == {spec.experiment_hash()}
    assert set(df["sweep"]) == {spec.name}


@pytest.mark.parametrize("part", PARTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_study_part_keeps_each_distilled_set(part):
    for point in _spec(part).points:
        kept = part / "synsets" / point.trial_key
        assert {f.name for f in kept.iterdir()} >= {"images.safetensors", "meta.json", "grid.png"}, kept
