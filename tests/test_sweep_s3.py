"""A sweep whose storage is s3:// against a local S3-compatible server (moto, on 127.0.0.1)."""

from __future__ import annotations

import pytest
from sweep_support import expected_keys, row_keys, tiny_sweep, write_sweep

pytestmark = pytest.mark.usefixtures("ray_local")

BUCKET = "raydd-sweeps"


@pytest.fixture
def s3_endpoint(monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "RAYDD_S3_ENDPOINT": endpoint}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


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
