"""`raydd results compact`: every row exactly once after a compaction, also after one interrupted at
each step (by an exception, and by SIGKILL of a real process); refusals; sweeps see compacted jobs
as done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import raydd.results.compact as compaction
from raydd.cli.main import cli
from raydd.results import load, write_rows
from raydd.results.compact import compact
from raydd.results.store import ResultsError, ResultsNotFoundError, ResultsWarning, is_compacted
from test_results_support import make_row

try:  # moto's S3 server, when installed (the module skips itself otherwise)
    from test_results_s3 import BUCKET, endpoint  # noqa: F401 - a fixture
except pytest.skip.Exception:
    BUCKET = None

JOBS = 23  # one-row job files, as a sweep writes them
MAX_ROWS = 8  # small, so that a compaction writes several files
KEY = ["trial_key", "student", "kd", "eval_seed"]


def _job_row(i: int) -> dict:
    return make_row(trial_key=f"t{i // 4}", student=("MLP", "LeNet")[i % 2], eval_seed=(i // 2) % 2,
                    test_acc=0.5 + i / 100)


def _fill(directory: Path) -> pd.DataFrame:
    """A sweep-like results directory (one file per job, and one multi-row file as `raydd evaluate
    --out` writes it) and every row as `load` reads it."""
    for i in range(JOBS):
        write_rows([_job_row(i)], str(directory), name=f"job{i}.parquet")
    write_rows([make_row(sweep="raydd-evaluate", trial_key="single", eval_seed=s) for s in range(3)], str(directory))
    return load(str(directory))


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _row_files(directory: Path) -> list[str]:
    return [n for n in _names(directory) if n.endswith(".parquet") and not is_compacted(n)]


def _read_quietly(location: str | Path) -> pd.DataFrame:
    """`load`, with any warning (a row seen twice) an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        return load(str(location))


def _assert_every_row_once(directory: Path, before: pd.DataFrame) -> None:
    after = _read_quietly(directory)
    assert not after.duplicated(KEY).any()
    pd.testing.assert_frame_equal(after, before)


def _assert_complete(directory: Path, before: pd.DataFrame) -> None:
    """Compacted: only compacted files remain; every reader, pandas too, sees each row once."""
    _assert_every_row_once(directory, before)
    assert _names(directory) == sorted(n for n in _names(directory) if is_compacted(n))
    plain = pd.read_parquet(directory)  # pandas alone, without raydd's shadowing
    assert len(plain) == len(before) and not plain.duplicated(KEY + ["sweep"]).any()


def test_every_row_exactly_once_in_a_few_files(tmp_path):
    before = _fill(tmp_path)
    report = compact(str(tmp_path), max_rows=MAX_ROWS)
    _assert_complete(tmp_path, before)
    assert (report.rows, report.removed, len(report.written)) == (JOBS + 3, JOBS + 1, 4)  # 26 rows, 8 a file
    assert sorted(report.written) == [n for n in _names(tmp_path) if is_compacted(n)]
    assert "26 row(s) -> 4 compacted file(s)" in report.describe()


def test_what_is_not_a_row_file_stays(tmp_path):
    before = _fill(tmp_path)
    keep = {"notes.txt": b"not rows", "_SUCCESS": b"", ".job0.parquet.abcd.tmp": b"PAR1"}
    for name, data in keep.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "older").mkdir()
    write_rows([make_row(trial_key="older")], str(tmp_path / "older"), name="job.parquet")
    compact(str(tmp_path))
    assert all((tmp_path / name).read_bytes() == data for name, data in keep.items())
    assert os.listdir(tmp_path / "older") == ["job.parquet"]  # the top level only
    assert len(_read_quietly(tmp_path)) == len(before) + 1


def test_a_second_compaction_merges_only_the_new_files(tmp_path):
    _fill(tmp_path)
    first = compact(str(tmp_path), max_rows=MAX_ROWS)
    assert compact(str(tmp_path)).describe().endswith("nothing to compact")
    write_rows([make_row(trial_key="late", eval_seed=s) for s in range(2)], str(tmp_path), name="late.parquet")
    before = load(str(tmp_path))
    second = compact(str(tmp_path), max_rows=MAX_ROWS)
    assert (second.rows, second.removed, len(second.written)) == (2, 1, 1)
    assert set(first.written) < {n for n in _names(tmp_path) if is_compacted(n)}  # the first ones untouched
    _assert_complete(tmp_path, before)


def test_a_copied_file_is_merged_once_and_disagreeing_copies_are_refused(tmp_path):
    before = _fill(tmp_path)
    (tmp_path / "copy.parquet").write_bytes((tmp_path / "job0.parquet").read_bytes())
    with pytest.warns(ResultsWarning, match="more than one file"):
        compact(str(tmp_path), max_rows=MAX_ROWS)
    _assert_complete(tmp_path, before)

    write_rows([_job_row(0) | {"test_acc": 0.99}], str(tmp_path), name="wrong.parquet")
    names = _names(tmp_path)
    with pytest.raises(ResultsError, match="disagree"):
        compact(str(tmp_path))
    assert _names(tmp_path) == names


def _add_note_column(path: Path) -> None:
    """What a user does with pyarrow: a note beside each row of a result file."""
    table = pq.read_table(path)
    pq.write_table(table.append_column("note", pa.array(["rerun on node 3"] * len(table))), path)


def _contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_a_column_a_user_added_is_never_dropped(tmp_path):
    before = _fill(tmp_path)
    _add_note_column(tmp_path / "job3.parquet")
    contents = _contents(tmp_path)
    with pytest.raises(ResultsError, match=r"job3\.parquet has column\(s\) 'note'.*nothing was compacted"):
        compact(str(tmp_path), max_rows=MAX_ROWS)
    assert _contents(tmp_path) == contents  # nothing written, nothing removed
    _assert_refused(_cli(str(tmp_path)), "job3.parquet has column(s) 'note'")
    assert _contents(tmp_path) == contents

    result = CliRunner().invoke(cli, ["results", "compact", str(tmp_path), "--skip-bad", "--max-rows", "8"])
    assert result.exit_code == 0, result.output
    assert f"warning: left {tmp_path / 'job3.parquet'} as it is: it has column(s) 'note'" in result.output
    assert _row_files(tmp_path) == ["job3.parquet"]
    assert (tmp_path / "job3.parquet").read_bytes() == contents["job3.parquet"]
    _assert_every_row_once(tmp_path, before)


def test_a_compacted_file_that_does_not_read_back_as_written_is_removed_and_nothing_merged(tmp_path, monkeypatch):
    before = _fill(tmp_path)
    contents = _contents(tmp_path)
    write = compaction.write_table

    def altering(table, *args, **kwargs):  # stands for a store that changed a value on the way
        column = table.schema.get_field_index("train_seconds")
        return write(table.set_column(column, "train_seconds", pa.array([9.0] * len(table))), *args, **kwargs)

    monkeypatch.setattr(compaction, "write_table", altering)
    with pytest.raises(ResultsError, match=r"compacted-[0-9a-f]{16}\.parquet did not read back as written "
                                           r"\(column 'train_seconds'\); it was removed and nothing was merged"):
        compact(str(tmp_path), max_rows=MAX_ROWS)
    assert _contents(tmp_path) == contents
    _assert_every_row_once(tmp_path, before)


def test_a_row_file_is_removed_only_when_every_value_of_its_rows_is_in_a_compacted_file(tmp_path):
    """A second `raydd evaluate --out` of one set: the same evaluations, another time taken."""
    before = _fill(tmp_path)
    again = [make_row(sweep="raydd-evaluate", trial_key="single", eval_seed=s, train_seconds=2.5) for s in range(3)]
    write_rows(again, str(tmp_path), name="part-again.parquet")
    kept = (tmp_path / "part-again.parquet").read_bytes()
    with pytest.warns(ResultsWarning, match="more than one file"):
        report = compact(str(tmp_path), max_rows=MAX_ROWS)
    assert report.kept == ("part-again.parquet",)
    assert "kept 1 file(s) whose rows differ from their compacted copies: part-again.parquet" in report.describe()
    assert _row_files(tmp_path) == ["part-again.parquet"] and (tmp_path / "part-again.parquet").read_bytes() == kept
    _assert_every_row_once(tmp_path, before)  # the compacted copy shadows it, silently
    assert compact(str(tmp_path)).kept == ("part-again.parquet",)  # and stays kept


# ---- interrupted compactions -----------------------------------------------------------------
class Interrupted(RuntimeError):
    """Stands for the process dying at that point."""


def _fail_on_call(n: int, function):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise Interrupted(f"call {n}")
        return function(*args, **kwargs)

    return failing


@pytest.mark.parametrize("stage, target, call", [
    ("after reading, before writing", "_write_compacted", 1),
    ("after the first compacted file, before the second", "write_table", 2),
    ("after the last compacted file, before removing", "_remove", 1),
    ("after removing some merged files", "_remove", 5),
])
def test_an_interrupted_compaction_hides_nothing_and_a_rerun_completes_it(tmp_path, monkeypatch, stage, target, call):
    before = _fill(tmp_path)
    monkeypatch.setattr(compaction, target, _fail_on_call(call, getattr(compaction, target)))
    with pytest.raises(Interrupted):
        compact(str(tmp_path), max_rows=MAX_ROWS)
    _assert_every_row_once(tmp_path, before)
    monkeypatch.undo()
    compact(str(tmp_path), max_rows=MAX_ROWS)
    _assert_complete(tmp_path, before)


def test_a_temporary_file_left_by_a_killed_write_is_removed_and_nothing_else(tmp_path):
    before = _fill(tmp_path)
    leftover = tmp_path / f".compacted-{'0' * 16}.parquet.x1y2.tmp"
    leftover.write_bytes(b"PAR1 cut short")
    _assert_every_row_once(tmp_path, before)
    assert compact(str(tmp_path), max_rows=MAX_ROWS).leftovers == 1
    assert not leftover.exists()
    _assert_complete(tmp_path, before)


# A compaction in its own process, held still at one point (announced on stdout) until killed.
_HELD = """
import os, sys, time, types
import raydd.results.compact as compaction
import raydd.atomic

def hold(function):
    def held(*args, **kwargs):
        result = function(*args, **kwargs)
        print("at the point", flush=True)
        time.sleep(120)
        return result
    return held

if sys.argv[2] == "rename":  # the compacted file written under its hidden name, not yet renamed
    raydd.atomic.os = types.SimpleNamespace(**{**vars(os), "replace": hold(lambda *a: None)})
else:  # the first merged file removed
    compaction._remove = hold(compaction._remove)
compaction.compact(sys.argv[1], max_rows=8)
"""


@pytest.mark.parametrize("point", ["rename", "remove"])
def test_sigkill_midway_hides_nothing_and_a_rerun_completes_it(tmp_path, point):
    before = _fill(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", _HELD, str(tmp_path), point], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        assert line == "at the point\n", process.stderr.read()
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    hidden = [n for n in _names(tmp_path) if n.startswith(".compacted-")]
    assert len(hidden) == (1 if point == "rename" else 0)
    assert len(_row_files(tmp_path)) == (JOBS + 1 if point == "rename" else JOBS)
    _assert_every_row_once(tmp_path, before)
    compact(str(tmp_path), max_rows=MAX_ROWS)
    _assert_complete(tmp_path, before)


def test_a_reader_lists_again_when_a_listed_file_is_removed(tmp_path, monkeypatch):
    """A reader that listed the row files just before a compaction removed them."""
    import raydd.results.store as store

    before = _fill(tmp_path)
    listed = store._result_files

    def list_then_compact(*args):
        files = listed(*args)
        if not any(map(is_compacted, files)):
            compact(str(tmp_path), max_rows=MAX_ROWS)
        return files

    monkeypatch.setattr(store, "_result_files", list_then_compact)
    _assert_every_row_once(tmp_path, before)


def test_a_reader_gives_up_when_files_keep_disappearing(tmp_path, monkeypatch):
    import raydd.results.store as store

    _fill(tmp_path)

    def vanished(fs, files, location, skip_bad):
        raise FileNotFoundError(files[0])

    monkeypatch.setattr(store, "read_tables", vanished)
    with pytest.raises(ResultsError, match="kept disappearing while being read"):
        load(str(tmp_path))


# ---- refusals --------------------------------------------------------------------------------
def _cli(*args: str):
    return CliRunner().invoke(cli, ["results", "compact", *args])


def _assert_refused(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_a_directory_without_result_files_is_refused_untouched(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "results").mkdir()
    write_rows([make_row()], str(tmp_path / "results"), name="job.parquet")
    _assert_refused(_cli(str(tmp_path)), f"(a sweep's rows are in {tmp_path}/results)")
    assert _names(tmp_path) == ["data.csv", "results"]
    with pytest.raises(ResultsNotFoundError):
        compact(str(tmp_path / "missing"))
    _assert_refused(_cli(str(tmp_path / "data.csv")), "is a file, not a results directory")


def test_a_foreign_parquet_file_is_refused_or_left_alone_with_skip_bad(tmp_path):
    before = _fill(tmp_path)
    pd.DataFrame({"x": [1, 2]}).to_parquet(tmp_path / "other.parquet")
    names = _names(tmp_path)
    _assert_refused(_cli(str(tmp_path)), "other.parquet is not a raydd results file")
    assert _names(tmp_path) == names

    result = CliRunner().invoke(cli, ["results", "compact", str(tmp_path), "--skip-bad", "--max-rows", "8"])
    assert result.exit_code == 0, result.output
    assert "warning: skipped" in result.output and "other.parquet" in result.output
    assert "26 row(s) -> 4 compacted file(s)" in result.output
    assert (tmp_path / "other.parquet").exists() and _row_files(tmp_path) == ["other.parquet"]
    (tmp_path / "other.parquet").unlink()
    _assert_complete(tmp_path, before)


def test_a_sweep_that_a_driver_runs_is_not_compacted(tmp_path):
    from raydd.sweep.lease import Holder

    results = tmp_path / "sweep" / "results"
    results.mkdir(parents=True)
    _fill(results)
    (tmp_path / "sweep" / "spec.yaml").write_text("name: sweep\n")
    lease = tmp_path / "sweep" / "LEASE"
    lease.write_text(json.dumps(Holder.me().__dict__))
    names = _names(results)
    _assert_refused(_cli(str(results)), "is held by")
    assert _names(results) == names
    lease.unlink()
    assert _cli(str(results)).exit_code == 0
    assert not lease.exists() and _row_files(results) == []  # its own hold released


# ---- several locations ----------------------------------------------------------------------
def _sweep_results(root: Path, name: str) -> Path:
    """`root/name/results`, filled, beside the spec file that makes it a sweep's (with a lease)."""
    results = root / name / "results"
    results.mkdir(parents=True)
    _fill(results)
    (root / name / "spec.yaml").write_text(f"name: {name}\n")
    return results


def test_several_locations_are_compacted_in_turn_each_reported(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    before = [_fill(first), _fill(second)]
    result = _cli(str(first), str(second), str(first), "--max-rows", "8")
    assert result.exit_code == 0, result.output
    reports = [line.split(" (")[0] for line in result.stdout.splitlines()]  # the location named twice: once
    assert reports == [f"{d}: 26 row(s) -> 4 compacted file(s)" for d in (first, second)]
    _assert_complete(first, before[0])
    _assert_complete(second, before[1])


@pytest.mark.parametrize("bad", ["missing", "a file", "no rows"])
def test_a_bad_location_among_several_is_one_line_naming_it_and_nothing_changes(tmp_path, bad):
    first = tmp_path / "a"
    _fill(first)
    names = _names(first)
    second = tmp_path / "b"
    if bad == "a file":
        second.write_text("x")
    elif bad == "no rows":
        second.mkdir()
        (second / "notes.txt").write_text("x")
    result = _cli(str(first), str(second))
    _assert_refused(result, repr(str(second)))
    assert result.stdout == "" and _names(first) == names  # the first location not touched either


@pytest.mark.parametrize("fault", ["foreign file", "held lease"])
def test_a_failure_in_the_second_location_leaves_the_first_compacted_and_correct(tmp_path, fault):
    from raydd.sweep.lease import Holder

    first, second = _sweep_results(tmp_path, "one"), _sweep_results(tmp_path, "two")
    before = load(str(first))
    if fault == "foreign file":
        pd.DataFrame({"x": [1, 2]}).to_parquet(second / "other.parquet")
        message = "other.parquet is not a raydd results file"
    else:
        (tmp_path / "two" / "LEASE").write_text(json.dumps(Holder.me().__dict__))
        message = "is held by"
    names = _names(second)
    result = _cli(str(first), str(second), "--max-rows", "8")
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1, result.output
    assert result.stdout.startswith(f"{first}: 26 row(s) -> 4 compacted file(s)") and str(second) not in result.stdout
    _assert_complete(first, before)
    assert not (tmp_path / "one" / "LEASE").exists()  # the first sweep's own hold released
    assert _names(second) == names


@pytest.mark.skipif(BUCKET is None, reason="needs moto's S3 server")
def test_compaction_on_an_object_store(endpoint):
    location = f"s3://{BUCKET}/compact/results"
    for i in range(JOBS):
        write_rows([_job_row(i)], location, name=f"job{i}.parquet")
    before = load(location)
    report = compact(location, max_rows=MAX_ROWS)
    assert (report.rows, report.removed, len(report.written)) == (JOBS, JOBS, 3)
    pd.testing.assert_frame_equal(_read_quietly(location), before)


# ---- sweeps --------------------------------------------------------------------------------
def test_a_sweep_counts_compacted_jobs_as_done(tmp_path):
    from sweep_support import tiny_sweep, write_sweep

    from raydd.core.evaluate import EvalRecord
    from raydd.spec import load_spec
    from raydd.sweep.context import SweepContext
    from raydd.sweep.evaluation import MISSING, all_jobs, job_states, record_rows, write_job_rows
    from raydd.sweep.layout import SweepPaths

    spec = load_spec(write_sweep(tmp_path, tiny_sweep("done", str(tmp_path / "runs"), students=("ConvNetW32", "MLP"))))
    paths = SweepPaths.of(spec.storage, spec.name)
    context = SweepContext.of(spec, paths)
    jobs = all_jobs(spec)
    stranger = make_row(sweep="other", trial_key=jobs[-1].trial_key, student=jobs[-1].student, kd=jobs[-1].kd,
                        teacher="ConvNetW32" if jobs[-1].kd else None, alpha=0.5 if jobs[-1].kd else None,
                        temperature=2.0 if jobs[-1].kd else None, eval_seed=jobs[-1].seed)
    write_rows([stranger], paths.results)  # another sweep's row for the same set: not this job's
    for job in jobs[:-1]:  # the last job has not run
        record = EvalRecord(job.student, "ConvNetW32" if job.kd else None, job.kd, 0.5 if job.kd else None,
                            2.0 if job.kd else None, job.seed, 0.4, 0.35, 1.5)
        rows = record_rows(record, job, context, {"wall_seconds": 3.0}, ("cpu", "127.0.0.1"))
        write_job_rows(rows, paths.result_file(job.name), MISSING, paths)
    compact(paths.results, max_rows=3)
    assert not any(name.endswith("__seed0.parquet") for name in os.listdir(paths.results))
    states = job_states(jobs, paths)
    assert [name for name, state in states.items() if state is not None] == [jobs[-1].name]
    assert states[jobs[-1].name] == MISSING

    damaged = sorted(Path(paths.results).glob("compacted-*.parquet"))[0]
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(ResultsError, match=f"{damaged.name} is not a readable Parquet file.*which rows it holds is unknown"):
        job_states(jobs, paths)  # redoing its jobs could write them twice: stop instead


def test_resume_after_compaction_redoes_no_job(tmp_path, ray_local):
    from sweep_support import tiny_sweep, write_sweep

    from raydd.spec import load_spec
    from raydd.sweep.runner import resume_sweep, run_sweep

    spec = load_spec(write_sweep(tmp_path, tiny_sweep("compacted", str(tmp_path / "runs"), seeds=(0,))))
    first = run_sweep(spec, echo=lambda line: None)
    assert first.complete, (first.trial_errors, first.evaluations)
    before = load(first.results)
    result = _cli(first.results)  # holds the sweep's lease while it compacts
    assert result.exit_code == 0, result.output
    assert _row_files(Path(first.results)) == []
    second = resume_sweep("compacted", str(tmp_path / "runs"), echo=lambda line: None)
    assert second.complete and second.evaluations["queued"] == 0, second.evaluations
    pd.testing.assert_frame_equal(_read_quietly(first.results), before)


def test_the_compaction_benchmark_runs():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_compact.py"), "--smoke-test"],
                            capture_output=True, text=True, timeout=300, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("20 one-row files: load ") and "-> 1 file(s); load after" in result.stdout
