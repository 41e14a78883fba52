"""A ResultsTable as text: aligned plain text, Markdown, CSV or JSON.

Cells read `mean ± std (n)` in percent with 2 decimals, the std being `raydd.stats`' population
std (ddof 0), which every footer states; the best cell of each column, within each dataset and
ipc, carries `*` (bold in Markdown); with a baseline each cell adds `[+d.dd]`, its difference to
the baseline row in percentage points, and the baseline row is labelled `(baseline)`. CSV and
JSON carry the same numbers as plain fields (percent, rounded to 4 decimals) with `best` flags.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

from raydd.registry import Registry
from raydd.results.table import BLOCK_AXES, ResultsTable
from raydd.stats import SPREAD_NOTE

RENDERERS: Registry = Registry("table format")
MISSING = "-"


def _pct(value: float) -> str:
    return MISSING if math.isnan(value) else f"{value:.2f}"


@dataclass(frozen=True)
class _Marks:
    """How a text format flags the best cell; `pad` keeps plain-text columns aligned."""

    before: str
    after: str
    pad: bool = False


def _signed(value: float | None, marks: _Marks, is_baseline: bool) -> str:
    if is_baseline:
        return " " * len(" [+00.00]") if marks.pad else ""
    if value is None or math.isnan(value):
        return ""
    return f" [{value:+6.2f}]" if marks.pad else f" [{value:+.2f}]"


def _setting_label(table: ResultsTable, row: int) -> list[str]:
    setting = table.settings[row]
    values = [MISSING if v is None else str(v) for v in setting.values()] or ["all"]
    if row in table.baseline:
        values[-1] += " (baseline)"
    return values


def _marked(text: str, best: bool, marks: _Marks) -> str:
    if best:
        return f"{marks.before}{text}{marks.after}"
    return text + (" " * len(marks.after) if marks.pad else "")


def _cell_text(table: ResultsTable, row: int, student: str, marks: _Marks) -> str:
    mean = float(table.mean[student].iloc[row])
    if math.isnan(mean):
        return MISSING
    std = float(table.std[student].iloc[row])
    n = int(table.n[student].iloc[row])
    text = _marked(f"{mean:.2f} ± {_pct(std)} ({n})", row in table.best(student), marks)
    diff = None if table.diff is None else float(table.diff[student].iloc[row])
    return text + _signed(diff, marks, row in table.baseline)


def _mean_text(table: ResultsTable, row: int, marks: _Marks) -> str:
    text = _marked(_pct(float(table.row_mean.iloc[row])), row in table.best("mean"), marks)
    diff = None if table.mean_diff is None else float(table.mean_diff.iloc[row])
    return text + _signed(diff, marks, row in table.baseline)


def _grid(table: ResultsTable, marks: _Marks) -> tuple[list[str], list[list[str]]]:
    header = list(table.by or ["setting"]) + list(table.students) + ["mean"]
    body = [
        _setting_label(table, row)
        + [_cell_text(table, row, s, marks) for s in table.students]
        + [_mean_text(table, row, marks)]
        for row in range(len(table.mean))
    ]
    return header, body


def _within(table: ResultsTable) -> str:
    axes = [a for a in BLOCK_AXES if a in table.by]
    return f" within each {' and '.join(axes)}" if axes else ""


def _footer(table: ResultsTable) -> str:
    covered = ", ".join(table.mean_students) or "none (no student is in every row)"
    note = (f"{table.metric} in %, mean ± std (n) over seeds; {SPREAD_NOTE}; * best per column"
            f"{_within(table)}; "
            f"mean over students: {covered}")
    if table.baseline:
        note += "; [+d] = difference to the baseline row in percentage points"
    return note


def aligned_text(header: list[str], body: list[list[str]], keys: int) -> str:
    """Rows of cells as plain text under a header and a rule, columns padded to equal width: the
    first `keys` columns (the row labels) left-aligned, the rest (numbers) right-aligned."""
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < keys else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in body])


@RENDERERS.register("table")
def render_text(table: ResultsTable) -> str:
    """Columns padded to equal width: settings left-aligned, numbers right-aligned."""
    header, body = _grid(table, _Marks("", " *", pad=True))
    keys = len(header) - len(table.students) - 1
    return "\n".join([aligned_text(header, body, keys), "", _footer(table)]) + "\n"


@RENDERERS.register("markdown")
def render_markdown(table: ResultsTable) -> str:
    """A GitHub Markdown table; the best cell of each column in bold."""
    header, body = _grid(table, _Marks("**", "**"))
    keys = len(header) - len(table.students) - 1
    align = ["---"] * keys + ["--:"] * (len(header) - keys)
    rows = [header, align] + body
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines + ["", _footer(table)]) + "\n"


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def _records(table: ResultsTable) -> list[dict]:
    records = []
    for row, setting in enumerate(table.settings):
        cells = {}
        for s in table.students:
            cells[s] = {"mean": _number(table.mean[s].iloc[row]), "std": _number(table.std[s].iloc[row]),
                        "n": None if math.isnan(table.n[s].iloc[row]) else int(table.n[s].iloc[row]),
                        "best": row in table.best(s)}
            if table.diff is not None:
                cells[s]["diff"] = _number(table.diff[s].iloc[row])
        record = {"setting": setting, "cells": cells, "mean": _number(table.row_mean.iloc[row]),
                  "mean_best": row in table.best("mean"), "baseline": row in table.baseline}
        if table.mean_diff is not None:
            record["mean_diff"] = _number(table.mean_diff.iloc[row])
        records.append(record)
    return records


@RENDERERS.register("json")
def render_json(table: ResultsTable) -> str:
    """{metric, unit, spread, by, students, mean_over, rows: [{setting, cells: {student: {...}}, ...}]}."""
    doc = {"metric": table.metric, "unit": "percent", "spread": SPREAD_NOTE, "by": list(table.by),
           "students": list(table.students), "mean_over": list(table.mean_students), "rows": _records(table)}
    return json.dumps(doc, indent=2, default=str) + "\n"


@RENDERERS.register("csv")
def render_csv(table: ResultsTable) -> str:
    """One line per setting: keys, then `<student> mean/std/n/best[/diff]` per student, then mean."""
    stats = ["mean", "std", "n", "best"] + (["diff"] if table.diff is not None else [])
    header = list(table.by or ["setting"]) + [f"{s} {k}" for s in table.students for k in stats]
    header += ["mean", "mean best"] + (["mean diff"] if table.diff is not None else []) + ["baseline"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for record in _records(table):
        keys = list(record["setting"].values()) or ["all"]
        cells = [record["cells"][s].get(k) for s in table.students for k in stats]
        tail = [record["mean"], record["mean_best"]]
        tail += [record["mean_diff"]] if table.diff is not None else []
        writer.writerow(keys + cells + tail + [record["baseline"]])
    return out.getvalue()


def render(table: ResultsTable, fmt: str = "table") -> str:
    """The table in one of RENDERERS' formats (table, markdown, csv, json)."""
    return RENDERERS.get(fmt)(table)
