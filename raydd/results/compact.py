"""`raydd results compact`: a results directory's one-file-per-job Parquet files merged into a few
large ones, without a moment in which a raydd reader sees a row twice or misses one.

The steps, and what a reader (`raydd.results.load`, hence `results show`, and the sweep's check of
which jobs are done) sees after each:

1. Read every row file at the top of the directory (a sweep's `<job>.parquet`, `raydd evaluate
   --out`'s `part-*.parquet`) and the compacted files already there. Nothing changes.
2. Write the rows that no compacted file holds yet as `compacted-<hash>.parquet`, at most
   `MAX_ROWS` each: locally under a hidden temporary name renamed into place, on an object store
   as one PUT, so each appears whole. From then on a row of a compacted file shadows its copy in a
   row file (`raydd.results.store.drop_copies`): every row is still seen once.
3. Remove each merged row file, after checking that every row it holds is in a compacted file.

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
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from raydd.results.schema import RESULT_SCHEMA
from raydd.results.store import (
    COMPACTED_NAME,
    FILE_COLUMN,
    HIDDEN_PREFIXES,
    PARQUET_SUFFIX,
    ROW_KEY,
    BadResultFile,
    ResultsError,
    ResultsNotFoundError,
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


@dataclass(frozen=True)
class Compaction:
    """What one `compact` did."""

    location: str
    rows: int  # rows written to new compacted files
    written: tuple[str, ...]  # names of the new compacted files
    removed: int  # merged row files removed (those an interrupted run had merged included)
    leftovers: int  # temporary files of an interrupted run removed

    def describe(self) -> str:
        if not self.written and not self.removed:
            return f"{self.location}: nothing to compact"
        leftovers = f", {self.leftovers} temporary file(s) of an interrupted run removed" if self.leftovers else ""
        return (f"{self.location}: {self.rows} row(s) -> {len(self.written)} compacted file(s) "
                f"({', '.join(self.written) or 'none new'}); {self.removed} merged file(s) removed{leftovers}")


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
    each named in a warning. Copies that disagree about one evaluation are an error, as for `load`.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    fs, path = resolve(location, filesystem)
    try:
        listing = _list(fs, path, location)
        frame = _read(fs, listing, location, skip_bad)
        for leftover in listing.leftovers:
            fs.delete_file(leftover)
        fresh = drop_copies(frame)
        fresh = fresh[~fresh[FILE_COLUMN].map(is_compacted)].drop(columns=[FILE_COLUMN])
        written = _write_compacted(fresh, fs, path, max_rows)
        merged = _merged_files(frame, fs, [posixpath.join(path, name) for name in written])
        for merged_file in merged:
            _remove(fs, merged_file)
    except (ValueError, FileNotFoundError):  # ResultsError is a ValueError
        raise
    except OSError as err:
        raise storage_error(location, err) from None
    return Compaction(location, len(fresh), tuple(written), len(merged), len(listing.leftovers))


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
    """The rows as compacted files of at most `max_rows` rows each, each written whole; their names."""
    rows = rows.sort_values(["sweep", "trial_key", "student", "kd", "eval_seed"], kind="stable")
    written = []
    for start in range(0, len(rows), max_rows):
        chunk = rows.iloc[start:start + max_rows]
        name = _compacted_name(chunk)
        write_table(pa.Table.from_pandas(chunk, schema=RESULT_SCHEMA, preserve_index=False), path,
                    name=name, filesystem=fs)
        written.append(name)
    return written


def _merged_files(frame: pd.DataFrame, fs: pafs.FileSystem, written: list[str]) -> list[str]:
    """The row files of `frame` every row of which is in a live compacted file (those read at
    the start, and the new ones `written`, read back): safe to remove."""
    compacted = frame[FILE_COLUMN].map(is_compacted)
    live = [frame.loc[compacted, list(ROW_KEY)]]
    live += [read_file(new, fs).select(list(ROW_KEY)).to_pandas() for new in written]
    held = pd.MultiIndex.from_frame(frame.loc[~compacted, list(ROW_KEY)]).isin(
        pd.MultiIndex.from_frame(pd.concat(live, ignore_index=True)))
    covered = pd.Series(held, index=frame.index[~compacted]).groupby(frame.loc[~compacted, FILE_COLUMN]).all()
    return sorted(covered[covered].index)


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
