"""Picking rows and columns out of a results frame, and saving them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from raydd.outputs import PARQUET_MARK, check_replaceable, is_raydd_parquet, write_output
from raydd.results.table import default_by
from raydd.results.where import where as row_filter

EXPORT_SUFFIXES = (".csv", ".parquet")


def query(df: pd.DataFrame, where: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """Rows matching a filter (e.g. "kd and ipc == 10 and student == 'MLP'"; the language is in
    `raydd.results.where`: parsed as data, never run as code), restricted to `columns` when given.
    A bad filter or column raises ValueError (a `FilterError` for the filter)."""
    unknown = [c for c in columns or [] if c not in df.columns]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; known: {', '.join(df.columns)}")
    selected = df[row_filter(df, where)] if where else df
    return selected[columns] if columns else selected


class NoMatchingRows(ValueError):
    """A filter that keeps none of the rows read: said, naming the filter and what was read,
    rather than an empty table or file."""


def filter_rows(df: pd.DataFrame, where: str | None, read_from: str) -> pd.DataFrame:
    """`query(df, where)` that refuses to come back empty: NoMatchingRows names the filter, the
    number of rows read and `read_from` (the locations). No filter keeps every row."""
    if where is None:
        return df
    kept = query(df, where)
    if kept.empty:
        raise NoMatchingRows(f'no result rows match --where "{where}" ({len(df)} rows read from {read_from})')
    return kept


def check_export_path(out: str | Path, force: bool = False) -> Path:
    """The path, if its suffix is one `export` can write and it replaces no file raydd did not
    write unless `force` (checked before loading anything; `raydd.outputs`)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValueError(f"cannot export to {str(out)!r}: use a {' or '.join(EXPORT_SUFFIXES)} file")
    own = is_raydd_parquet if suffix == ".parquet" else None  # CSV has no place for a mark
    check_replaceable(out, own, f"a {suffix[1:].upper()} file" if own is None else "a Parquet file", force)
    return out


def _parquet(df: pd.DataFrame, handle) -> None:
    """`df` as Parquet whose schema metadata marks it as raydd's (`raydd.outputs.PARQUET_MARK`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    marked = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_MARK: b"raydd results query"})
    pq.write_table(marked, handle)


def export(df: pd.DataFrame, out: str | Path, force: bool = False) -> Path:
    """Write rows to CSV or Parquet, chosen by the file's suffix, atomically (`raydd.outputs`)."""
    out = check_export_path(out, force)
    if out.suffix.lower() == ".csv":
        return write_output(out, lambda handle: handle.write(df.to_csv(index=False).encode("utf-8")))
    return write_output(out, lambda handle: _parquet(df, handle))


def image_grids(df: pd.DataFrame) -> pd.DataFrame:
    """One line per trial: its varying settings, distill seed and synthetic-image grid PNG."""
    keys = [k for k in default_by(df) if k not in ("kd", "teacher")]  # KD is per student, not per set
    columns = ["trial_key"] + keys + ["distill_seed", "grid_png_uri"]
    return df[columns].drop_duplicates("trial_key").reset_index(drop=True)
