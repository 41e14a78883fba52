"""`raydd results compact`: a results directory's one-file-per-job Parquet files merged into a few
large ones, without a moment in which a raydd reader sees a row twice or misses one.

The steps, and what a reader (`raydd.results.load`, hence `results show`, and the sweep's check of
which jobs are done) sees after each:

1. Read every row file at the top of the directory (a sweep's `<job>.parquet`, `raydd evaluate
   --out`'s `part-*.parquet`) and the compacted files already there. Nothing changes.
   A row file holding a column that raydd's rows do not have (a note a user added) is refused
   by name, before anything changes: compacting it would drop the column (under `skip_bad` it
   is left as it is, rows included).
2. Write the rows that no compacted file holds yet as `compacted-<hash>.parquet`, at most
   `MAX_ROWS` each: locally under a hidden temporary name renamed into place, on an object store
   as one PUT, so each appears whole. Each is read back and compared with what was meant, value
   for value; one that differs is removed again and nothing is merged. From then on a row of a
   compacted file shadows its copy in a row file (`raydd.results.store.drop_copies`): every row
   is still seen once.
3. Remove each merged row file, after checking that every row it holds is in a compacted file
   with every value the same. A file holding a copy that differs (a second `raydd evaluate --out`
   of one set, another `train_seconds`) is kept and named in the report.

Killed during 2, the run leaves at most a hidden temporary file (readers skip it; the next run
removes it) and every row file in place. Killed during 3, the next run finds the remaining row
files' rows in compacted files, writes nothing new and removes them. A reader that lists the
directory, then finds a listed file removed, lists it again (`raydd.results.store`).

Plain `pandas.read_parquet(DIR)` knows nothing of shadowing: it sees each row once before step 2
and after step 3, and between the two (a moment locally, one DELETE per file on an object store)
it also sees the copies still in the merged row files.

Only files that hold raydd result rows are ever merged or removed; other files, hidden files and
sub-directories are left as they are. Compacted files are not merged again: a later compaction
merges only the row files written since.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import warnings
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raydd.results.schema import COLUMNS, FORMER_NAMES, RESULT_SCHEMA
from raydd.results.store import (
    COMPACTED_NAME,
    FILE_COLUMN,
    HIDDEN_PREFIXES,
    PARQUET_SUFFIX,
    ROW_KEY,
    BadResultFile,
    ResultsError,
    ResultsNotFoundError,
    ResultsWarning,
    drop_copies,
    is_compacted,
    read_file,
    read_tables,
    resolve,
    write_table,
)
from raydd.storage import storage_error

MAX_ROWS = 100_000  # rows per compacted file: a few MB of Parquet, read in well under a second
# the hidden temporary that raydd.atomic.atomic_write leaves when a local write is killed
TEMPORARY_NAME = re.compile(r"\." + COMPACTED_NAME.pattern + r"\..+\.tmp")
# pandas stores an unnamed row index under this name: row positions of a frame, not a user's data
PANDAS_INDEX = re.compile(r"__index_level_\d+__")


@dataclass(frozen=True)
class Compaction:
    """What one `compact` did."""

    location: str
    rows: int  # rows written to new compacted files
    written: tuple[str, ...]  # names of the new compacted files
    removed: int  # merged row files removed (those an interrupted run had merged included)
    leftovers: int  # temporary files of an interrupted run removed
    kept: tuple[str, ...] = ()  # row files holding a copy that differs from its compacted row

    def describe(self) -> str:
        kept = (f"; kept {len(self.kept)} file(s) whose rows differ from their compacted copies: "
                f"{', '.join(self.kept)}") if self.kept else ""
        if not self.written and not self.removed:
            return f"{self.location}: nothing to compact{kept}"
        leftovers = f", {self.leftovers} temporary file(s) of an interrupted run removed" if self.leftovers else ""
        return (f"{self.location}: {self.rows} row(s) -> {len(self.written)} compacted file(s) "
                f"({', '.join(self.written) or 'none new'}); {self.removed} merged file(s) removed{leftovers}{kept}")


@dataclass(frozen=True)
class _Listing:
    compacted: list[str]  # compacted files already live
    rows: list[str]  # row files (visible, not compacted) at the top of the directory
    leftovers: list[str]  # hidden temporaries of an interrupted compaction


def compact(location: str, *, max_rows: int = MAX_ROWS, skip_bad: bool = False,
            filesystem: pafs.FileSystem | None = None) -> Compaction:
    """Merge the row files at the top of the results directory `location` (local or URI) into
    compacted files of at most `max_rows` rows, then remove them; see the module's steps.

    Raises ResultsNotFoundError for a missing location and ResultsError, before anything changes,
    for one that is not a results directory (no Parquet files at its top level) or that holds a
    file that cannot be read as rows, unless `skip_bad`: then such files stay where they are,
    each named in a warning. So is a row file with a column that raydd's rows do not have, which
    compacting would drop. Copies that disagree about one evaluation are an error, as for `load`.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    fs, path = resolve(location, filesystem)
    try:
        listing = _list(fs, path, location)
        frame = _without_added_columns(_read(fs, listing, location, skip_bad), fs, skip_bad)
        for leftover in listing.leftovers:
            fs.delete_file(leftover)
        fresh = drop_copies(frame)
        fresh = fresh[~_from_compacted(fresh)].drop(columns=[FILE_COLUMN])
        written = _write_compacted(fresh, fs, path, max_rows)
        merged, kept = _merged_files(frame, fresh)
        for merged_file in merged:
            _remove(fs, merged_file)
    except (ValueError, FileNotFoundError):  # ResultsError is a ValueError
        raise
    except OSError as err:
        raise storage_error(location, err) from None
    return Compaction(location, len(fresh), tuple(written), len(merged), len(listing.leftovers),
                      tuple(posixpath.basename(k) for k in kept))


def check_compactable(location: str, filesystem: pafs.FileSystem | None = None) -> None:
    """The refusals `compact` makes of `location` itself (missing, a file, no Parquet files at its
    top level), made by listing it only: several locations are all looked at before any changes."""
    fs, path = resolve(location, filesystem)
    try:
        _list(fs, path, location)
    except (ValueError, FileNotFoundError):
        raise
    except OSError as err:
        raise storage_error(location, err) from None


def _list(fs: pafs.FileSystem, path: str, location: str) -> _Listing:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise ResultsNotFoundError(f"results location {location!r} does not exist")
    if info.type != pafs.FileType.Directory:
        raise ResultsError(f"{location!r} is a file, not a results directory")
    files = {e.base_name: e.path for e in fs.get_file_info(pafs.FileSelector(path))
             if e.type == pafs.FileType.File}
    visible = {n: p for n, p in files.items() if not n.startswith(HIDDEN_PREFIXES) and n.endswith(PARQUET_SUFFIX)}
    listing = _Listing(compacted=sorted(p for n, p in visible.items() if is_compacted(n)),
                       rows=sorted(p for n, p in visible.items() if not is_compacted(n)),
                       leftovers=sorted(p for n, p in files.items() if TEMPORARY_NAME.fullmatch(n)))
    if not listing.compacted and not listing.rows:
        raise ResultsError(f"{location!r} is not a results directory: it holds no {PARQUET_SUFFIX} files "
                           f"at its top level{_hint(fs, path, location)}")
    return listing


def _added_columns(fs: pafs.FileSystem, path: str) -> list[str]:
    """The columns of a readable result file that raydd's rows do not have (a user's note)."""
    known = set(COLUMNS) | set(FORMER_NAMES)
    names = pq.read_schema(path, filesystem=fs).names
    return [name for name in names if name not in known and not PANDAS_INDEX.fullmatch(name)]


def _without_added_columns(frame: pd.DataFrame, fs: pafs.FileSystem, skip_bad: bool) -> pd.DataFrame:
    """`frame` without the rows of row files that hold columns of their own, which compacting
    would drop: each such file is left as it is with a warning under `skip_bad`; without it, the
    first is a ResultsError naming it and its columns. Compacted files are never rewritten."""
    for path in frame[FILE_COLUMN].unique():
        added = [] if is_compacted(path) else _added_columns(fs, path)
        if not added:
            continue
        problem = (f"{path} has column(s) {', '.join(map(repr, added))} that raydd's result rows do "
                   "not have: compacting it would drop them")
        if not skip_bad:
            raise ResultsError(f"{problem}; nothing was compacted (move the file away, or pass "
                               "--skip-bad to leave it as it is)")
        warnings.warn(f"left {problem.replace(' has column', ' as it is: it has column', 1)}",
                      ResultsWarning, stacklevel=4)
        frame = frame[frame[FILE_COLUMN] != path]
    return frame


def _hint(fs: pafs.FileSystem, path: str, location: str) -> str:
    """Where the rows are when `location` is a sweep's root rather than its results directory."""
    if fs.get_file_info(posixpath.join(path, "results")).type == pafs.FileType.Directory:
        return f" (a sweep's rows are in {location.rstrip('/')}/results)"
    return ""


def _read(fs: pafs.FileSystem, listing: _Listing, location: str, skip_bad: bool) -> pd.DataFrame:
    """Every row of the compacted and row files, with FILE_COLUMN; a bad file as `read_tables`
    treats it."""
    try:
        tables = read_tables(fs, listing.compacted + listing.rows, location, skip_bad)
    except ResultsError as err:
        raise ResultsError(f"{err}; nothing was compacted") from None
    return pa.concat_tables(tables).to_pandas()


def _compacted_name(chunk: pd.DataFrame) -> str:
    """Named after the evaluations it holds: a rerun of an interrupted write picks the same name."""
    keys = chunk[list(ROW_KEY)].astype(str).to_csv(index=False, header=False)
    return f"compacted-{hashlib.sha256(keys.encode()).hexdigest()[:16]}{PARQUET_SUFFIX}"


def _write_compacted(rows: pd.DataFrame, fs: pafs.FileSystem, path: str, max_rows: int) -> list[str]:
    """The rows as compacted files of at most `max_rows` rows each, each written whole and read
    back as written (`_check_read_back`); their names."""
    rows = rows.sort_values(["sweep", "trial_key", "student", "kd", "eval_seed"], kind="stable")
    written = []
    for start in range(0, len(rows), max_rows):
        chunk = rows.iloc[start:start + max_rows].reset_index(drop=True)
        name = _compacted_name(chunk)
        write_table(pa.Table.from_pandas(chunk, schema=RESULT_SCHEMA, preserve_index=False), path,
                    name=name, filesystem=fs)
        _check_read_back(chunk, fs, posixpath.join(path, name))
        written.append(name)
    return written


def _check_read_back(meant: pd.DataFrame, fs: pafs.FileSystem, written: str) -> None:
    """A ResultsError, once `written` is removed again, when it does not hold `meant` value for
    value: it would shadow the rows it was meant to copy, and no row file may go on its word."""
    back = read_file(written, fs).to_pandas()
    differing = next((c for c in COLUMNS if len(back) != len(meant) or not back[c].equals(meant[c])), None)
    if differing is None:
        return
    fs.delete_file(written)
    raise ResultsError(f"{written} did not read back as written (column {differing!r}); it was removed "
                       "and nothing was merged")


def _merged_files(frame: pd.DataFrame, fresh: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(merged, kept): the row files of `frame` every row of which, value for value, is in a live
    compacted file (those read at the start, and `fresh`, just written and read back), safe to
    remove; and those holding a row that no compacted file holds as it is."""
    compacted = _from_compacted(frame)
    live = pd.concat([frame.loc[compacted, list(COLUMNS)], fresh[list(COLUMNS)]], ignore_index=True)
    rows = frame.loc[~compacted, [*COLUMNS, FILE_COLUMN]]
    # a left merge on every column (nulls match nulls) keeps each row once: `live` has no duplicates
    found = rows.merge(live.drop_duplicates(), on=list(COLUMNS), how="left", indicator=True)
    covered = (found["_merge"] == "both").groupby(found[FILE_COLUMN]).all()
    return sorted(covered[covered].index), sorted(covered[~covered].index)


def _from_compacted(frame: pd.DataFrame) -> pd.Series:
    """Which rows of `frame` come from a compacted file (boolean also when `frame` is empty)."""
    return frame[FILE_COLUMN].map(is_compacted).astype(bool)


def _remove(fs: pafs.FileSystem, path: str) -> None:
    fs.delete_file(path)


def compacted_keys(location: str, columns: tuple[str, ...]) -> set[tuple]:
    """The `columns` of every row of the compacted files at the top of `location` (e.g. which
    jobs of a sweep they hold); empty when there are none. An unreadable compacted file is a
    ResultsError: what it holds is unknown."""
    fs, path = resolve(location)
    found = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    keys: set[tuple] = set()
    for entry in found:
        if entry.type != pafs.FileType.File or not is_compacted(entry.base_name):
            continue
        try:
            table = read_file(entry.path, fs)
        except BadResultFile as bad:
            raise ResultsError(f"{bad}: which rows it holds is unknown; move it away") from None
        keys.update(zip(*(table.column(c).to_pylist() for c in columns)))
    return keys
