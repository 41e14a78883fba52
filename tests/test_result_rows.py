"""One row builder: a sweep's rows and `raydd evaluate --out` rows carry the same columns, the
same provenance (raydd version and commit, torch version, device, node), and the label regime,
label storage and selection columns; files written before those columns read with the values
their rows implicitly had."""

from __future__ import annotations

import socket
import subprocess
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep
from test_results_support import make_row

from raydd.cli.main import cli
from raydd.core.evaluate import EvalRecord
from raydd.results import COLUMNS, load, to_table, write_rows
from raydd.results.rows import commit_of, provenance, raydd_commit
from raydd.spec import load_spec
from raydd.sweep.context import SweepContext
from raydd.sweep.evaluation import all_jobs, record_rows
from raydd.sweep.layout import SweepPaths

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits_synset(tmp_path_factory):
    """A raydd artifact of one random real digit per class."""
    from raydd.core.artifact import SyntheticSet, build_meta, save_synset
    from raydd.core.datasets import load_dataset
    from raydd.core.distill import DistillConfig
    from raydd.core.evaluate import random_real

    data = load_dataset("digits")
    images, labels = random_real(data, 1, seed=0)
    cfg = DistillConfig(dataset="digits", method="dc", ipc=1, iterations=0)
    meta = build_meta(cfg, data.info, 0, 0.0, val_size=data.val_size, split_seed=data.split_seed)
    return save_synset(SyntheticSet(images, labels, meta), tmp_path_factory.mktemp("sets") / "dc1")


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_provenance_names_the_installed_versions_the_checkout_and_the_host():
    made_by = provenance("cpu")
    assert made_by.raydd_version == version("raydd") and made_by.torch_version == version("torch")
    assert made_by.node == socket.gethostname() and made_by.device == "cpu"
    assert raydd_commit().split("-")[0] == _git(ROOT, "rev-parse", "HEAD")  # tests run from a checkout


def test_the_commit_is_marked_dirty_only_when_the_package_differs_and_unknown_outside_a_checkout(tmp_path):
    assert commit_of(tmp_path) is None  # no repository
    repo = tmp_path / "repo"
    (repo / "raydd").mkdir(parents=True)
    (repo / "raydd" / "x.py").write_text("a = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert commit_of(repo) == head
    (repo / "notes.txt").write_text("untracked, not the package")
    assert commit_of(repo) == head
    (repo / "raydd" / "x.py").write_text("a = 2\n")
    assert commit_of(repo) == f"{head}-dirty"
    assert commit_of(repo / "raydd") is None  # inside a checkout, but not its top: some other repository


def _sweep_row(tmp_path) -> dict:
    spec = load_spec(write_sweep(tmp_path, tiny_sweep("rows", str(tmp_path / "runs"), seeds=(0,))))
    context = SweepContext.of(spec, SweepPaths.of(spec.storage, spec.name))
    job = all_jobs(spec)[0]
    record = EvalRecord(job.student, None, False, None, None, 0, 0.4, 0.35, 1.5)
    (row,) = record_rows(record, job, context, {"wall_seconds": 2.0}, ("cpu", socket.gethostname()))
    return row


def test_a_sweep_row_and_an_evaluate_row_have_the_same_columns_and_provenance(tmp_path, digits_synset):
    swept = _sweep_row(tmp_path)
    out = tmp_path / "rows"
    result = CliRunner().invoke(cli, ["evaluate", str(digits_synset), "--students", "MLP", "--kd", "off",
                                      "--seeds", "1", "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    evaluated = load(str(out)).iloc[0].to_dict()
    assert set(swept) == set(evaluated) == set(COLUMNS)
    for column in ("node", "device", "raydd_version", "raydd_commit", "torch_version", "labels", "selection"):
        assert swept[column] == evaluated[column], column
    assert evaluated["node"] == socket.gethostname() and evaluated["labels"] == "hard"
    assert evaluated["label_bytes"] == 8 * 10 * evaluated["ipc"]  # int64 class labels of digits' 10 classes
    assert swept["label_bytes"] == 8 * 10 * swept["ipc"] and swept["selection"] == "validation"


def test_files_written_before_the_label_and_provenance_columns_read_with_their_implicit_values(tmp_path):
    later = ["labels", "label_bytes", "selection", "raydd_commit", "torch_version", "train_acc"]
    pq.write_table(to_table([make_row()]).drop_columns(later), tmp_path / "old.parquet")
    row = load(str(tmp_path)).iloc[0]
    assert (row["labels"], row["selection"]) == ("hard", "validation")
    assert row[["label_bytes", "raydd_commit", "torch_version", "train_acc"]].isna().all()


@pytest.mark.parametrize("column, value, message", [
    ("labels", "fuzzy", "column 'labels' is 'fuzzy'; known: hard, soft, relabel"),
    ("selection", "best", "column 'selection' is 'best'; known: validation, test-max"),
    ("label_bytes", -8, "column 'label_bytes' is -8"),
])
def test_an_unknown_regime_or_selection_is_refused_before_writing(tmp_path, column, value, message):
    with pytest.raises(ValueError, match=message):
        write_rows([make_row(**{column: value})], str(tmp_path))
    assert not list(tmp_path.iterdir())
