"""Where result rows live: one immutable Parquet file per write, read back as one DataFrame.

A location is a local directory or a URI (`s3://bucket/sweep/results`, `gs://...`, `file:///...`),
resolved by `raydd.storage.filesystem_for` exactly as the sweep service resolves it (S3 endpoints
other than AWS: `RAYDD_S3_ENDPOINT` / `AWS_ENDPOINT_URL`, or URI query parameters); a ready
filesystem may also be passed as `filesystem=` with a plain path.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from datetime import datetime, timezone
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raydd.atomic import atomic_write
from raydd.kd_words import shown
from raydd.results.schema import RESULT_SCHEMA, schema_problem, to_table, with_current_names
from raydd.storage import filesystem_for, is_uri, storage_error

PARQUET_SUFFIX = ".parquet"
HIDDEN_PREFIXES = (".", "_")  # temp files, _SUCCESS markers and the like are never rows
# stable order so that tables and exports do not depend on file listing order
_SORT_COLUMNS = ["created_at", "trial_key", "student", "kd", "eval_seed"]
# One row is one evaluation: a set (sweep, trial: what was distilled, how) x student x KD mode x
# evaluation seed x protocol (evaluation setting, label regime, selection). Two rows with the same key are
# copies of one evaluation.
ROW_KEY = ("sweep", "trial_key", "method", "dataset", "ipc", "pool_name", "pool_warmup", "iterations",
           "distill_seed", "student", "kd", "eval_seed", "epochs", "augment", "lr", "eval_key", "labels",
           "selection")
MEASURED = ("teacher", "alpha", "temperature", "val_acc", "test_acc")  # what copies must agree on
_NAMING = ("sweep", "trial_key", "student", "kd", "eval_seed")  # enough to name a row in a message
FILE_COLUMN = "__file"  # which file a row came from, while loading
# `raydd results compact` merges row files into files of this name (raydd.results.compact); a row
# in one of them shadows the same evaluation in any other file (a merged file not yet removed)
COMPACTED_NAME = re.compile(r"compacted-[0-9a-f]{16}\.parquet")
LISTING_ATTEMPTS = 3  # a file listed, then removed by a compaction before it was read: list again


class ResultsError(ValueError):
    """A results location cannot be read as result rows."""


class ResultsNotFoundError(ResultsError, FileNotFoundError):
    """A results location does not exist."""


class BadResultFile(ResultsError):
    """One result file that cannot be read as rows (truncated, corrupt, foreign)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} is {problem}")
        self.path, self.problem = path, problem


class ResultsWarning(UserWarning):
    """Something a reader skipped or merged: a bad file under --skip-bad, a copied file."""


def resolve(location: str, filesystem: pafs.FileSystem | None = None, *, for_write: bool = False):
    """(filesystem, path inside it) for a local path or URI."""
    if filesystem is not None:
        path = location.split("://", 1)[1].split("?", 1)[0] if is_uri(location) else location
        return filesystem, path
    if for_write and location.startswith("s3://") and "?" in location and "allow_delayed_open" not in location:
        # A URI with query parameters goes to pyarrow as it is; delayed open lets a small object go
        # up as one PutObject instead of a multipart upload (plain s3:// URIs already get it).
        location += "&allow_delayed_open=true"
    try:
        return filesystem_for(location)
    except (pa.ArrowInvalid, ValueError, OSError) as err:
        raise ResultsError(f"cannot open results location {location!r}: {err}") from None


def _display(location: str, path: str, name: str) -> str:
    """The written file as the caller named its location: a URI stays a URI."""
    if not is_uri(location):
        return os.path.join(path, name)
    parts = urlsplit(location)
    return f"{parts.scheme}://{path.rstrip('/')}/{name}"


def _part_name() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"part-{stamp}-{uuid.uuid4().hex}{PARQUET_SUFFIX}"


def _write_local(table: pa.Table, directory: str, name: str) -> None:
    with atomic_write(os.path.join(directory, name)) as out:  # hidden from readers until renamed
        pq.write_table(table, out)


def _write_object(table: pa.Table, fs: pafs.FileSystem, directory: str, name: str) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    # the whole file in one stream: an object store publishes it only when the upload completes
    with fs.open_output_stream(f"{directory.rstrip('/')}/{name}") as out:
        out.write(sink.getvalue())


def _check_name(name: str) -> str:
    if "/" in name or name.startswith(HIDDEN_PREFIXES) or not name.endswith(PARQUET_SUFFIX):
        raise ValueError(f"file name {name!r} must be a plain name ending in {PARQUET_SUFFIX} "
                         "that does not start with '.' or '_' (readers skip those)")
    return name


def write_rows(rows: list[dict] | pd.DataFrame, location: str, *, name: str | None = None,
               filesystem: pafs.FileSystem | None = None) -> str:
    """Validate `rows` against RESULT_SCHEMA, then write them as one new Parquet file.

    The file is `part-<UTC time>-<uuid>.parquet` unless `name` is given: a caller-chosen name
    (e.g. one per evaluation job) makes a retried job rewrite the same file, atomically, instead
    of adding a duplicate. Returns the written file's path (or URI). Raises ValueError naming
    the offending column before anything is written. Nothing rewrites a file with other rows,
    so concurrent writers need no coordination.
    """
    return write_table(to_table(rows), location, name=name, filesystem=filesystem)


def write_table(table: pa.Table, location: str, *, name: str | None = None,
                filesystem: pafs.FileSystem | None = None) -> str:
    """`write_rows` for a table already of RESULT_SCHEMA (e.g. rows read back from files)."""
    name = _check_name(name) if name is not None else _part_name()
    fs, directory = resolve(location, filesystem, for_write=True)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            _write_local(table, directory, name)
        else:
            _write_object(table, fs, directory, name)
    except OSError as err:
        raise storage_error(location, err) from None
    return _display(location, directory, name)


def is_compacted(path: str) -> bool:
    """Whether `path` names a file written by `raydd results compact`."""
    return COMPACTED_NAME.fullmatch(path.rsplit("/", 1)[-1]) is not None


def _is_hidden(path: str) -> bool:
    return any(part.startswith(HIDDEN_PREFIXES) for part in path.split("/") if part)


def _result_files(fs: pafs.FileSystem, path: str, location: str, skip_bad: bool) -> list[str]:
    """The Parquet files under `path`, every level, hidden names left out. A link to a directory
    it is in (a loop, which would list every file again and again) is a bad entry, as
    `refuse_or_skip` treats one."""
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise ResultsNotFoundError(f"results location {location!r} does not exist")
    if info.type == pafs.FileType.File:
        return [path]
    if isinstance(fs, pafs.LocalFileSystem):  # object stores have no links
        files, loops = _walk_local(path)
        for loop in loops:
            refuse_or_skip(BadResultFile(loop, f"a link to {os.path.realpath(loop)}, a directory it is in (a loop)"),
                           location, skip_bad)
    else:
        found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
        files = [f.path for f in found if f.type == pafs.FileType.File]
    visible = [f for f in files if not _is_hidden(f[len(path):])]
    parquet = sorted(f for f in visible if f.endswith(PARQUET_SUFFIX))
    if not parquet:
        others = f" (it holds {len(visible)} other file(s))" if visible else ""
        raise ResultsError(f"results location {location!r} holds no {PARQUET_SUFFIX} files{others}")
    return parquet


def _walk_local(root: str) -> tuple[list[str], list[str]]:
    """(files, loops) under the local directory `root`, following links as pyarrow's listing does,
    except a link to a directory it is in: such a link is one of `loops`, not followed. Hidden
    names are not entered."""
    files: list[str] = []
    loops: list[str] = []

    def walk(directory: str, ancestors: frozenset[str]) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(HIDDEN_PREFIXES):
                    continue
                if entry.is_dir():
                    real = os.path.realpath(entry.path)
                    if real in ancestors:
                        loops.append(entry.path)
                    else:
                        walk(entry.path, ancestors | {real})
                elif entry.is_file():
                    files.append(entry.path)

    walk(root, frozenset({os.path.realpath(root)}))
    return files, sorted(loops)


def read_file(path: str, filesystem: pafs.FileSystem) -> pa.Table:
    """One result file as a table of RESULT_SCHEMA; `BadResultFile` when it is truncated,
    unreadable, or of another schema; FileNotFoundError when it is gone."""
    try:
        table = pq.read_table(path, filesystem=filesystem)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as err:  # ArrowInvalid for a cut-off footer, OSError for I/O
        raise BadResultFile(path, f"not a readable Parquet file ({_first_line(err)})") from None
    table = with_current_names(table)
    problem = schema_problem(table.schema)
    if problem:
        raise BadResultFile(path, f"not a raydd results file: {problem}")
    if table.num_rows == 0:  # raydd writes no such file: a writer lost its rows (a sweep's job file: a missing row)
        raise BadResultFile(path, "empty: it holds no rows")
    return table.select(list(RESULT_SCHEMA.names)).cast(RESULT_SCHEMA)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def read_tables(fs: pafs.FileSystem, files: list[str], location: str, skip_bad: bool) -> list[pa.Table]:
    """Each readable file as a table with a FILE_COLUMN naming it; a bad file stops the reading
    (ResultsError) or, under `skip_bad`, is skipped with a warning. FileNotFoundError for a file
    gone since it was listed."""
    tables = []
    for path in files:
        try:
            table = read_file(path, fs)
        except BadResultFile as bad:
            refuse_or_skip(bad, location, skip_bad)
            continue
        tables.append(table.append_column(FILE_COLUMN, pa.array([path] * len(table), pa.string())))
    if not tables:
        raise ResultsError(f"results location {location!r} holds no readable result file")
    return tables


def refuse_or_skip(bad: BadResultFile, location: str, skip_bad: bool) -> None:
    """A bad entry of a results directory: a ResultsError naming it, or under `skip_bad` a warning."""
    if not skip_bad:
        raise ResultsError(f"{bad} (in {location!r}); move it away, or pass --skip-bad "
                           "(skip_bad=True) to read the other files") from None
    warnings.warn(f"skipped {bad}", ResultsWarning, stacklevel=4)


def drop_copies(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluation (ROW_KEY): copies that agree are counted once, silently when one of
    them is in a compacted file (the other is a merged file not yet removed), else with a warning;
    copies that disagree are an error naming both files."""
    repeated = frame.duplicated(list(ROW_KEY), keep=False)
    if not repeated.any():
        return frame
    _check_copies_agree(frame[repeated])
    compacted = frame[FILE_COLUMN].map(is_compacted)
    frame = frame[compacted | ~_keys_in(frame, frame[compacted])]
    kept = frame[~frame.duplicated(list(ROW_KEY), keep="first")]
    if len(kept) == len(frame):
        return kept
    copies = frame[frame.duplicated(list(ROW_KEY), keep=False)]
    files = sorted(set(copies[FILE_COLUMN]))
    listed = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    warnings.warn(f"{len(frame) - len(kept)} row(s) appear in more than one file ({listed}: a copied "
                  "file?); each evaluation is counted once", ResultsWarning, stacklevel=3)
    return kept


def _keys_in(frame: pd.DataFrame, others: pd.DataFrame) -> np.ndarray:
    """Which rows of `frame` have a ROW_KEY that some row of `others` has."""
    return pd.MultiIndex.from_frame(frame[list(ROW_KEY)]).isin(
        pd.MultiIndex.from_frame(others[list(ROW_KEY)]))


def _check_copies_agree(copies: pd.DataFrame) -> None:
    for key, group in copies.groupby(list(ROW_KEY), sort=False, dropna=False):  # eval_key, lr may be null
        if len(group[list(MEASURED)].astype(str).drop_duplicates()) > 1:
            files = " and ".join(dict.fromkeys(group[FILE_COLUMN]))
            named = ", ".join(f"{k}={shown(k, v)}" for k, v in zip(ROW_KEY, key) if k in _NAMING)
            raise ResultsError(f"rows for one evaluation ({named}) disagree, in {files}; "
                               "remove the wrong one")


def load(location: str, *, filesystem: pafs.FileSystem | None = None, skip_bad: bool = False) -> pd.DataFrame:
    """Every result row under `location` as one DataFrame with the schema's dtypes.

    Ints are int32, accuracies float64 fractions, `kd` bool, strings str, `created_at`
    datetime64[us, UTC]. Files whose names start with '.' or '_' are skipped. Raises
    ResultsNotFoundError for a missing location, and ResultsError for one without result files
    or with a file that is truncated, unreadable or of another schema (naming it), unless
    `skip_bad`: then such files are skipped with a `ResultsWarning` each. A row is one
    evaluation (ROW_KEY); the same row in two files (a copied file) is counted once, with a
    warning, and two files that disagree about one evaluation are an error. A row of a compacted
    file (`raydd results compact`) shadows its copy in a merged file not yet removed, silently.
    """
    fs, path = resolve(location, filesystem)
    frame = drop_copies(_read_listed(fs, path, location, skip_bad)).drop(columns=[FILE_COLUMN])
    return frame.sort_values(_SORT_COLUMNS, kind="stable").reset_index(drop=True)


def _read_listed(fs: pafs.FileSystem, path: str, location: str, skip_bad: bool) -> pd.DataFrame:
    """Every row of the files listed under `path`, listed again when a file went away between
    the listing and its reading (a compaction removes merged files once its own is in place)."""
    for _ in range(LISTING_ATTEMPTS):
        try:
            files = _result_files(fs, path, location, skip_bad)
            return pa.concat_tables(read_tables(fs, files, location, skip_bad)).to_pandas()
        except ResultsError:
            raise
        except FileNotFoundError as err:
            gone = err
        except OSError as err:  # unreachable, no permission: say where and what may be missing
            raise storage_error(location, err) from None
    raise ResultsError(f"files of {location!r} kept disappearing while being read ({gone}); "
                       "is something other than `raydd results compact` removing them?")
