"""A sweep whose storage is s3:// against a local S3-compatible server (moto, on 127.0.0.1)."""

from __future__ import annotations

import pytest
from s3_support import moto_bucket
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep

pytestmark = pytest.mark.usefixtures("ray_local")

BUCKET = "raydd-sweeps"


@pytest.fixture
def s3_endpoint(monkeypatch):
    with moto_bucket(monkeypatch, BUCKET) as endpoint:
        yield endpoint


def test_sweep_on_s3_storage_runs_and_reads_back(tmp_path, s3_endpoint):
    from raydd import storage
    from raydd.spec import load_spec
    from raydd.sweep.runner import load_results, run_sweep, sweep_status

    spec = load_spec(write_sweep(tmp_path, tiny_sweep("ons3", f"s3://{BUCKET}/sweeps", seeds=(0,))))
    outcome = run_sweep(spec, echo=lambda line: None)
    assert outcome.complete, (outcome.trial_errors, outcome.evaluations)
    assert outcome.root == f"s3://{BUCKET}/sweeps/ons3"
    df = load_results(outcome.results)
    assert sorted(row_keys(df)) == sorted(expected_keys(spec))
    assert set(df["synset_uri"]) == {f"s3://{BUCKET}/sweeps/ons3/synsets/{spec.points[0].trial_key}"}
    # everything lives in the bucket: Tune's experiment, the artifact, the spec copy
    assert {"spec.yaml", "tune", "synsets", "results", "trials"} <= set(storage.list_names(outcome.root))
    assert (tmp_path / "runs").exists() is False
    s = sweep_status("ons3", f"s3://{BUCKET}/sweeps")
    assert s.counts["done"] == 1 and s.evaluations_pending == 0
