"""What `sweep submit --address` uploads: secrets and bulk stay behind, the rest goes, and it says so."""

import os
import zipfile

import pytest
from click.testing import CliRunner

from raydd.sweep import upload

KEPT = ["README.md", "sweeps/mine.yaml", "pkg/__init__.py", "pkg/core/datasets/loader.py", "top.log",
        "pkg/data_utils.py", "notes/id_mapping.txt"]
SECRETS = [".env", ".env.production", "id_rsa", "keys/id_ed25519.pub", "certs/server.pem", "tls.key",
           ".aws/credentials", ".ssh/config", ".netrc", ".ray/auth_token", "deploy/auth_token"]
BULK = [".git/config", ".venv/bin/python", "venv/lib/x.py", "runs/quickstart/results/a.parquet",
        "data/cifar-10/batch_1", "datasets/mnist/raw", "pkg/__pycache__/a.cpython-311.pyc",
        "raydd.egg-info/PKG-INFO", ".pytest_cache/v/x"]
IGNORED = ["big/weights.bin", "sub/debug.log"]  # by .rayignore and by a nested .gitignore


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for name in KEPT + SECRETS + BULK + IGNORED:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"contents of {name}\n")
    (root / ".rayignore").write_text("big/\n")
    (root / "sub" / ".gitignore").write_text("*.log\n")
    outside = tmp_path / "private.txt"
    outside.write_text("not for the cluster\n")
    os.symlink(outside, root / "link_to_outside.txt")
    os.symlink(root / "README.md", root / "link_inside.md")
    return root


def test_secrets_bulk_and_ignored_files_stay_behind(project):
    sent = set(upload.files_to_upload(project))
    assert set(KEPT) | {".rayignore", "sub/.gitignore", "link_inside.md"} == sent
    assert not sent & set(SECRETS + BULK + IGNORED + ["link_to_outside.txt"])


def test_the_package_holds_exactly_what_is_listed_and_says_how_much(project, tmp_path):
    package = upload.pack(project, tmp_path)
    with zipfile.ZipFile(package.path) as archive:
        assert sorted(archive.namelist()) == sorted(package.files) == sorted(upload.files_to_upload(project))
        assert archive.read("sweeps/mine.yaml") == b"contents of sweeps/mine.yaml\n"
    assert package.size == sum((project / f).stat().st_size for f in package.files)
    line = package.describe()
    assert f"uploading {len(package.files)} file(s) from {project}" in line and "MiB" in line


def test_an_oversized_directory_is_refused_naming_the_largest_file(project, tmp_path, monkeypatch):
    (project / "results.csv").write_text("x" * 5000)
    monkeypatch.setattr(upload, "MAX_UPLOAD_BYTES", 4000)
    with pytest.raises(upload.UploadError, match=r"largest: results\.csv.*\.rayignore"):
        upload.pack(project, tmp_path)
    assert not (tmp_path / "working_dir.zip").exists()


def test_submit_to_an_unreachable_cluster_is_one_line(tmp_path, monkeypatch):
    from raydd.cli.main import cli

    (tmp_path / "s.yaml").write_text("name: tiny\nstorage: ./runs\ndataset: {name: digits}\n"
                                     "distill: {iterations: 1}\ngrid: {ipc: [1]}\n"
                                     "evaluation: {students: [MLP], kd: [off], seeds: 1, epochs: 1}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", "submit", "s.yaml", "--address", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot reach the Ray cluster at http://127.0.0.1:9")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
