"""A truncated, corrupt or copied result file: the reader names it, can skip it, and never counts a
row twice."""

from __future__ import annotations

import re
import shutil
import warnings

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.results import load, write_rows
from raydd.results.store import ResultsError, ResultsWarning
from test_results_support import make_row, write_sample

SAMPLE_ROWS = 16


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def sample(tmp_path):
    paths = write_sample(tmp_path)
    return tmp_path, sorted(paths)


def test_a_truncated_file_is_named(sample):
    location, paths = sample
    truncate(location / paths[1].rsplit("/", 1)[1])
    with pytest.raises(ResultsError, match="is not a readable Parquet file") as caught:
        load(str(location))
    assert paths[1] in str(caught.value) and "--skip-bad" in str(caught.value)


def test_skip_bad_reads_the_rest_and_warns_about_each_skipped_file(sample):
    location, paths = sample
    truncate(location / paths[1].rsplit("/", 1)[1])
    (location / "garbage.parquet").write_bytes(b"PAR1 not really")
    with pytest.warns(ResultsWarning) as caught:
        df = load(str(location), skip_bad=True)
    assert len(df) == SAMPLE_ROWS - 4  # the truncated file held 4 rows: 0 lost from the others
    skipped = sorted(str(w.message) for w in caught)
    assert len(skipped) == 2 and any(paths[1] in m for m in skipped) and any("garbage" in m for m in skipped)


def test_skip_bad_on_the_command_line_warns_on_stderr(sample):
    location, paths = sample
    truncate(location / paths[0].rsplit("/", 1)[1])
    refused = CliRunner().invoke(cli, ["results", "show", str(location)])
    assert refused.exit_code == 1 and refused.output.count("\n") == 1 and paths[0] in refused.output
    result = CliRunner().invoke(cli, ["results", "query", str(location), "--where", "True", "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert f"warning: skipped {paths[0]}" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 + SAMPLE_ROWS - 4


def test_a_copied_file_is_counted_once_with_a_warning(sample):
    location, paths = sample
    before = load(str(location))
    shutil.copy(paths[2], location / "copy-of-a-part.parquet")
    with pytest.warns(ResultsWarning, match=r"4 row\(s\) appear in more than one file .*counted once"):
        after = load(str(location))
    assert len(after) == len(before) == SAMPLE_ROWS  # 0 lost, 0 duplicated
    assert after.equals(before)


def test_two_files_that_disagree_about_one_evaluation_are_refused(tmp_path):
    write_rows([make_row(test_acc=0.30)], str(tmp_path))
    write_rows([make_row(test_acc=0.90)], str(tmp_path))
    with pytest.raises(ResultsError, match=r"rows for one evaluation \(sweep=demo, trial_key=t-single-0, "
                                           r"student=MLP, kd=off, eval_seed=0\) disagree"):
        load(str(tmp_path))


def test_a_clean_location_loads_without_warnings(sample):
    location, _ = sample
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load(str(location))) == SAMPLE_ROWS


# ---- a file that holds no rows, a link that loops ----------------------------------------------
READERS = [  # every command that reads a results directory, with what it needs besides the location
    ["results", "show"],
    ["results", "query", "--where", "True"],
    ["results", "plot", "--out", "PLOT.png"],
    ["results", "images", "--out", "SHEET.png"],
    ["results", "compact"],
]


def _command(reader: list[str], location, tmp_path) -> list[str]:
    args = [a.replace("PLOT", str(tmp_path / "plot")).replace("SHEET", str(tmp_path / "sheet")) for a in reader]
    return [*args[:2], str(location), *args[2:]]


def _empty_copy(source, target) -> None:
    """What a writer that lost its rows leaves: a valid Parquet file of the schema, zero rows."""
    pq.write_table(pq.read_table(source).slice(0, 0), target)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r[1])
def test_a_file_with_no_rows_is_named_by_every_reader(sample, tmp_path_factory, reader):
    location, paths = sample
    empty = location / "job-lost.parquet"
    _empty_copy(paths[0], empty)
    with pytest.raises(ResultsError, match="job-lost.parquet is empty: it holds no rows") as caught:
        load(str(location))
    assert "--skip-bad" in str(caught.value)
    outputs = tmp_path_factory.mktemp("out")
    refused = CliRunner().invoke(cli, _command(reader, location, outputs))
    assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
    assert f"{empty} is empty: it holds no rows" in refused.output and "Traceback" not in refused.output
    assert not list(outputs.iterdir()) and empty.exists()  # nothing written, nothing removed


def test_skip_bad_skips_a_file_with_no_rows_and_says_so(sample):
    location, paths = sample
    _empty_copy(paths[0], location / "job-lost.parquet")
    with pytest.warns(ResultsWarning, match="skipped .*job-lost.parquet is empty: it holds no rows"):
        assert len(load(str(location), skip_bad=True)) == SAMPLE_ROWS


# compaction reads the top level only, so a link in a sub-directory is nothing it follows
@pytest.mark.parametrize("reader", READERS[:-1], ids=lambda r: r[1])
def test_a_link_that_loops_in_a_results_directory_is_named_by_every_reader(sample, tmp_path_factory, reader):
    location, _ = sample
    (location / "runs").mkdir()
    (location / "runs" / "back").symlink_to(location)  # a link to a directory it is inside of
    loop = f"{location}/runs/back is a link to {location}, a directory it is in (a loop)"
    with pytest.raises(ResultsError, match=re.escape(loop)) as caught:
        load(str(location))
    assert "--skip-bad" in str(caught.value)
    outputs = tmp_path_factory.mktemp("out")
    refused = CliRunner().invoke(cli, _command(reader, location, outputs))
    assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
    assert loop in refused.output and "Traceback" not in refused.output
    assert not list(outputs.iterdir())


def test_skip_bad_skips_a_link_that_loops_and_counts_nothing_twice(sample):
    location, _ = sample
    (location / "loop").symlink_to(".")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load(str(location), skip_bad=True)
    assert len(df) == SAMPLE_ROWS
    assert [str(w.message) for w in caught] == [f"skipped {location}/loop is a link to {location}, a "
                                                "directory it is in (a loop)"]
