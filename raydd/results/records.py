"""Result rows as a terminal shows them: an aligned table, CSV, or one JSON document.

Every format prints kd as its word (off/on, `raydd.kd_words`); the rows themselves keep booleans.
JSON is `{"columns": [...], "rows": [{column: value}, ...]}`: numbers stay numbers (floats exact,
not rounded), a missing value is null and a timestamp is ISO 8601 text.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from raydd.kd_words import with_kd_words

ROW_FORMATS = ("table", "csv", "json")


def plain(value):
    """One cell as a JSON value: numpy scalars as Python ones, NaN/NaT/None as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
        return pd.Timestamp(value).isoformat()
    return value


def rows_document(df: pd.DataFrame) -> dict:
    """The rows as {columns, rows: [records]}, every value `plain`."""
    shown = with_kd_words(df)
    columns = [str(c) for c in shown.columns]
    records = [dict(zip(columns, map(plain, values))) for values in shown.itertuples(index=False, name=None)]
    return {"columns": columns, "rows": records}


def render_rows(df: pd.DataFrame, fmt: str = "table", na_rep: str = "NaN") -> str:
    """The rows in one of ROW_FORMATS, ending in a newline."""
    if fmt not in ROW_FORMATS:
        raise ValueError(f"rows are printed as {', '.join(ROW_FORMATS)}, not {fmt}")
    if fmt == "json":
        return json.dumps(rows_document(df), indent=2, allow_nan=False) + "\n"
    shown = with_kd_words(df)
    if fmt == "csv":
        return shown.to_csv(index=False)
    return shown.to_string(index=False, na_rep=na_rep) + "\n"
