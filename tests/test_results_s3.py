"""write_rows/load against an S3 API (moto's server on 127.0.0.1), through plain s3:// URIs."""

import socket

import pytest

pytest.importorskip("moto.server")
import pandas as pd  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from raydd.results import ResultsError, ResultsNotFoundError, load, write_rows  # noqa: E402
from test_results_support import make_row, write_sample  # noqa: E402

BUCKET = "raydd-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as env:
        # dummy credentials keep the AWS SDK from probing instance metadata; AWS_ENDPOINT_URL
        # is the standard variable that pyarrow's S3 filesystem honours
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}.items():
            env.setenv(key, value)
        # from_uri reads AWS_ENDPOINT_URL; the S3FileSystem constructor does not
        fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")
        fs.create_dir(BUCKET)
        yield url
    server.stop()


def test_round_trip_through_a_plain_s3_uri(endpoint, tmp_path):
    location = f"s3://{BUCKET}/sweep-a/results"
    written = write_sample(location)
    assert all(p.startswith(f"{location}/part-") and p.endswith(".parquet") for p in written)
    df = load(location)
    assert len(df) == 16 and df["ipc"].dtype == "int32" and df["kd"].dtype == bool
    write_sample(tmp_path)
    pd.testing.assert_frame_equal(df, load(str(tmp_path)))  # same rows, same dtypes as locally


def test_explicit_filesystem_argument(endpoint):
    fs = pafs.S3FileSystem(endpoint_override=endpoint.removeprefix("http://"), scheme="http")
    path = write_rows([make_row()], f"{BUCKET}/sweep-b/results", filesystem=fs)
    assert path.startswith(f"{BUCKET}/sweep-b/results/part-")
    assert len(load(f"s3://{BUCKET}/sweep-b/results", filesystem=fs)) == 1


def test_endpoint_in_uri_query(endpoint):
    host = endpoint.removeprefix("http://")
    location = f"s3://{BUCKET}/sweep-c/results?endpoint_override={host}&scheme=http"
    written = write_rows([make_row()], location)
    assert written.startswith(f"s3://{BUCKET}/sweep-c/results/part-")
    assert len(load(location)) == 1


def test_missing_prefix_and_foreign_objects(endpoint):
    with pytest.raises(ResultsNotFoundError, match="does not exist"):
        load(f"s3://{BUCKET}/no-such-sweep/results")
    fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}")
    with fs.open_output_stream(f"{BUCKET}/sweep-d/results/readme.txt") as out:
        out.write(b"not results")
    with pytest.raises(ResultsError, match="holds no .parquet files"):
        load(f"s3://{BUCKET}/sweep-d/results")
