"""Unreachable or unusable storage: one line within seconds, naming the location and what may be missing."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli

CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def unreachable_s3(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/credentials either
    monkeypatch.setenv("RAYDD_S3_ENDPOINT", CLOSED)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("args", [
    ["results", "show", "s3://raydd-results/sweep/results"],
    ["results", "query", "s3://raydd-results/sweep/results", "--where", "kd"],
    ["sweep", "status", "demo", "--storage", "s3://raydd-results/sweeps"],
    ["sweep", "stop", "demo", "--storage", "s3://raydd-results/sweeps"],
])
def test_unreachable_credential_less_s3_fails_within_seconds_saying_why(unreachable_s3, args):
    start = time.monotonic()
    result = CliRunner().invoke(cli, args)
    seconds = time.monotonic() - start
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "cannot use s3://raydd-results/" in result.output and "Could not connect" in result.output
    assert f"S3 endpoint: {CLOSED}" in result.output and "no AWS credentials are configured here" in result.output
    assert seconds < 30, seconds


def test_a_sweep_on_unreachable_storage_is_refused_before_ray(unreachable_s3, tmp_path, monkeypatch):
    import ray
    from sweep_support import tiny_sweep, write_sweep

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))
    path = write_sweep(tmp_path, tiny_sweep("remote", "s3://raydd-results/sweeps"))
    result = CliRunner().invoke(cli, ["sweep", "submit", str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "cannot use s3://raydd-results/sweeps/remote/LEASE" in result.output


def test_an_unwritable_local_storage_is_refused_before_ray(tmp_path, monkeypatch):
    import ray
    from sweep_support import tiny_sweep, write_sweep

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))
    (tmp_path / "a-file").write_text("not a directory")
    for storage in (str(tmp_path / "a-file" / "runs"), "/proc/raydd-runs"):
        path = write_sweep(tmp_path, tiny_sweep("local", storage))
        result = CliRunner().invoke(cli, ["sweep", "submit", str(path)])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert result.output.startswith(f"Error: cannot use {storage}/local/LEASE: ")
