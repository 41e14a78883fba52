"""A ResultsTable as text: aligned plain text, Markdown, CSV or JSON.

Cells read `mean ± std (d×e)` in percent with 2 decimals: d distilled sets (distillation seeds)
× e evaluation seeds each, the mean and std being over the sets' means (`raydd.results.cells`;
`raydd.stats`' population std, ddof 0), which every footer states; the best cell of each column,
within each dataset, ipc and evaluation setting, carries `*` (bold in Markdown and LaTeX); with a
baseline each cell adds `[+d.dd]`, its difference to the baseline row in percentage points, marked
`†` when Welch's t-test over the sets' means puts it beyond the spread, `‡` when only evaluation
seeds could be tested (a side has one set), and the baseline row is labelled `(baseline)`. CSV and
JSON carry the same numbers as plain fields (percent, rounded to 4 decimals) with `best` flags and
each difference's p and its level; LaTeX is a booktabs tabular. Rows whose test accuracy is the
best over epochs (`selection` test-max) are announced in every format as for comparison only.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

from raydd.kd_words import shown
from raydd.registry import Registry
from raydd.results.table import BLOCK_AXES, ResultsTable
from raydd.stats import BEST_NOTE, SIGNIFICANCE_NOTE, SPREAD_NOTE, UNIT_NOTE

TEST_MAX_NOTE = ("TEST-MAX rows (selection test-max): test accuracy is the best over epochs, measured on "
                 "the test set, as published numbers were often taken; for comparison only, never a result")

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


def _signed(value: float | None, marks: _Marks, is_baseline: bool, mark: str = "") -> str:
    dagger = mark or (" " if marks.pad else "")
    if is_baseline:
        return " " * len(" [+00.00] ") if marks.pad else ""
    if value is None or math.isnan(value):
        return ""
    return (f" [{value:+6.2f}]" if marks.pad else f" [{value:+.2f}]") + dagger


def _setting_label(table: ResultsTable, row: int) -> list[str]:
    setting = table.settings[row]
    values = [MISSING if v is None else str(shown(k, v)) for k, v in setting.items()] or ["all"]
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
    cell = table.cell(row, student)
    text = _marked(f"{mean:.2f} ± {_pct(cell.std)} ({cell.n_text()})", row in table.best(student), marks)
    diff = None if table.diff is None else float(table.diff[student].iloc[row])
    return text + _signed(diff, marks, row in table.baseline, table.mark(row, student))


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
    note = (f"{table.metric} in %, mean ± std (d×e); {UNIT_NOTE}; {SPREAD_NOTE}; * best per column"
            f"{_within(table)}, {BEST_NOTE}; "
            f"mean over students: {covered}")
    if table.baseline:
        note += f"; [+d] = difference to the baseline row in percentage points; {SIGNIFICANCE_NOTE}"
    return f"{TEST_MAX_NOTE}. {note}" if table.test_max else note


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
            cell = table.cell(row, s)
            cells[s] = {"mean": _number(cell.mean), "std": _number(cell.std), "n": cell.runs or None,
                        "sets": cell.sets or None, "seeds": cell.n_text().split("×")[1] if cell.sets else None,
                        "seeds_min": cell.seeds_min or None, "seeds_max": cell.seeds_max or None,
                        "best": row in table.best(s)}
            if table.diff is not None:
                cells[s]["diff"] = _number(table.diff[s].iloc[row])
                cells[s]["p"] = _number(table.p_value[s].iloc[row])
                cells[s]["p_level"] = table.p_level[s].iloc[row]
                cells[s]["significant"] = table.significant(row, s)  # the text formats' † or ‡
        record = {"setting": {k: shown(k, v) for k, v in setting.items()}, "cells": cells, "mean": _number(table.row_mean.iloc[row]),
                  "mean_best": row in table.best("mean"), "baseline": row in table.baseline}
        if table.mean_diff is not None:
            record["mean_diff"] = _number(table.mean_diff.iloc[row])
        records.append(record)
    return records


@RENDERERS.register("json")
def render_json(table: ResultsTable) -> str:
    """{metric, unit, aggregation, spread, selection, comparison_only, by, students, mean_over,
    rows: [{setting, cells: {student: {mean, std, n, sets, seeds, seeds_min, seeds_max, best[, diff, p,
    p_level, significant]}}, ...}]}: numbers as numbers, marks as booleans (`best`: the `*`,
    `significant`: the `†` or `‡`, which `p_level` tells apart)."""
    doc = {"metric": table.metric, "unit": "percent", "aggregation": UNIT_NOTE, "spread": SPREAD_NOTE,
           "selection": list(table.selections), "comparison_only": table.test_max, "by": list(table.by),
           "students": list(table.students), "mean_over": list(table.mean_students), "rows": _records(table)}
    return json.dumps(doc, indent=2, default=str) + "\n"


@RENDERERS.register("csv")
def render_csv(table: ResultsTable) -> str:
    """One line per setting: keys, then `<student> mean/std/n/sets/seeds/best[/diff/p/p_level]` per
    student, then mean (a `selection` column where the rows do not vary in it)."""
    stats = ["mean", "std", "n", "sets", "seeds", "best"] + (["diff", "p", "p_level"] if table.diff is not None else [])
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


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


DAGGER_LATEX = "$^\\dagger$"
LATEX_MARKS = {"†": DAGGER_LATEX, "‡": "$^\\ddagger$"}


def _latex_text(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in text)


def _latex_cell(table: ResultsTable, row: int, student: str | None) -> str:
    """`mean ± std (d×e)` (LaTeX), bold when best, then the difference to the baseline with its
    mark (dagger: over distillation seeds; double dagger: over evaluation seeds only)."""
    mark = ""
    if student is None:
        mean, best = float(table.row_mean.iloc[row]), row in table.best("mean")
        text = MISSING if math.isnan(mean) else f"{mean:.2f}"
        diff = None if table.mean_diff is None else float(table.mean_diff.iloc[row])
    else:
        cell, best = table.cell(row, student), row in table.best(student)
        if math.isnan(cell.mean):
            return MISSING
        d, e = cell.n_text().split("×")
        text = f"{cell.mean:.2f} $\\pm$ {cell.std:.2f} {{\\scriptsize(${d}{{\\times}}{e}$)}}"
        diff = None if table.diff is None else float(table.diff[student].iloc[row])
        mark = table.mark(row, student)
    text = f"\\textbf{{{text}}}" if best else text
    if diff is not None and not math.isnan(diff) and row not in table.baseline:
        text += f" {{\\scriptsize({diff:+.2f}{LATEX_MARKS.get(mark, '')})}}"
    return text


@RENDERERS.register("latex")
def render_latex(table: ResultsTable) -> str:
    """A booktabs tabular for a paper (needs \\usepackage{booktabs}); the footer as a comment."""
    header, _ = _grid(table, _Marks("", ""))
    keys = len(header) - len(table.students) - 1
    lines = ["% " + _footer(table).replace("†", DAGGER_LATEX).replace("‡", LATEX_MARKS["‡"]),
             f"\\begin{{tabular}}{{{'l' * keys}{'r' * (len(header) - keys)}}}", "\\toprule",
             " & ".join(_latex_text(h) for h in header) + r" \\", "\\midrule"]
    for row in range(len(table.mean)):
        cells = [_latex_text(v) for v in _setting_label(table, row)]
        cells += [_latex_cell(table, row, s) for s in table.students] + [_latex_cell(table, row, None)]
        lines.append(" & ".join(cells) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def cell_grid(table: ResultsTable, best_before: str = "", best_after: str = "") -> tuple[list[str], list[list[str]]]:
    """The header and the rows of cell texts every format above shows (setting keys, then
    `mean ± std (d×e)` per student with its difference and mark, then the mean), the best cell of a
    column wrapped in `best_before`/`best_after`: for a format outside this module (the HTML report)."""
    return _grid(table, _Marks(best_before, best_after))


def legend(table: ResultsTable) -> str:
    """What a table's numbers and marks mean: the footer every format prints under it."""
    return _footer(table)


def render(table: ResultsTable, fmt: str = "table") -> str:
    """The table in one of RENDERERS' formats (table, markdown, csv, json, latex)."""
    return RENDERERS.get(fmt)(table)
