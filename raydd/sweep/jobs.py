"""Running a sweep on a Ray cluster as a Ray Job (`raydd sweep submit --address http://HEAD:8265`).

The job's entrypoint is the same CLI with `--in-job`, run from a copy of the current directory
(`working_dir`, packed by raydd.sweep.upload, which leaves secrets and bulk behind and says what it
sends); inside it a bare `ray.init()` attaches to the cluster. Stopping the job sends SIGINT
(`RAY_JOB_STOP_SIGNAL`), which Tune takes as "save state and stop", so `resume` continues.

A cluster with token authentication (cluster.yaml turns it on) needs the client to hold the token:
`RAY_AUTH_MODE=token` and the token in ~/.ray/auth_token (or `RAY_AUTH_TOKEN_PATH` /
`RAY_AUTH_TOKEN`); Ray's job client sends it with every request.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import tempfile
import time

from raydd import storage
from raydd.sweep import upload
from raydd.sweep.layout import SweepPaths

STOP_ENV = {"RAY_JOB_STOP_SIGNAL": "SIGINT", "RAY_JOB_STOP_WAIT_TIME_S": "30"}
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def spec_argument(spec_path: str, working_dir: str) -> str:
    """The sweep file as the job will see it: relative to the uploaded working directory."""
    absolute = os.path.abspath(spec_path)
    relative = os.path.relpath(absolute, working_dir)
    if relative.startswith(".."):
        raise ValueError(f"{spec_path} is outside {working_dir}; submit from a directory that contains it")
    return relative


def job_runtime_env(package: str) -> dict:
    """The job's environment: the packed working directory, the stop signal, the S3 endpoint.
    Credentials are not forwarded: on a cluster they come from the nodes' instance profile."""
    env = dict(STOP_ENV)
    env.update({k: v for k, v in storage.capture_storage_env().items() if k in storage.ENDPOINT_VARS})
    return {"working_dir": package, "env_vars": env}


def submit_job(args: list[str], address: str, *, name: str, storage_location: str,
               working_dir: str | None = None, echo=print) -> str:
    """Submit `raydd sweep <args> --in-job` as a Ray Job; returns the job id (also kept on storage).

    The working directory is packed first and what goes is printed before anything is sent.
    """
    working_dir = os.path.abspath(working_dir or os.getcwd())
    entrypoint = shlex.join(["raydd", "sweep", *args, "--in-job"])
    client = _client(address)  # connects first: a wrong address or a missing token fails here
    with tempfile.TemporaryDirectory(prefix="raydd-upload-") as scratch:
        package = upload.pack(working_dir, scratch)
        echo(package.describe())
        job_id = client.submit_job(entrypoint=entrypoint, runtime_env=job_runtime_env(package.path))
    record = {"job_id": job_id, "address": address, "entrypoint": entrypoint, "submitted_at": time.time()}
    storage.write_text(SweepPaths.of(storage_location, name).job_record, json.dumps(record))
    return job_id


def follow_job(job_id: str, address: str, echo=print) -> str:
    """Print the job's logs as they come until it ends; returns its final status."""
    client = _client(address)

    async def tail():
        async for lines in client.tail_job_logs(job_id):
            echo(lines.rstrip("\n"))

    asyncio.run(tail())
    status = str(client.get_job_status(job_id))
    while status.split(".")[-1] not in TERMINAL:  # the log stream can close a moment before
        time.sleep(1.0)
        status = str(client.get_job_status(job_id))
    return status.split(".")[-1]


def stop_job(name: str, storage_location: str) -> str | None:
    """Stop the sweep's Ray Job (SIGINT, so resumable) if one was submitted; returns its id."""
    paths = SweepPaths.of(storage_location, name)
    if not storage.exists(paths.job_record):
        return None
    record = json.loads(storage.read_text(paths.job_record))
    _client(record["address"]).stop_job(record["job_id"])
    return record["job_id"]
