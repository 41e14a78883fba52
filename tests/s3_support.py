"""A local S3-compatible server (moto, on 127.0.0.1) with one bucket, for tests of s3:// storage."""

from __future__ import annotations

from contextlib import contextmanager

import pytest


@contextmanager
def moto_bucket(monkeypatch, bucket: str):
    """Serve `bucket` and point raydd at it; yields the endpoint. moto keeps buckets in this process's
    memory across servers, so each test module names a bucket of its own."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "RAYDD_S3_ENDPOINT": endpoint}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    try:
        yield endpoint
    finally:
        server.stop()
