"""The paper-style table and the leaderboards as HTML, their cell texts those of `results show`."""

from __future__ import annotations

import html
import math

import pandas as pd

from raydd.results.render import cell_grid, legend
from raydd.results.table import ResultsTable, default_by, results_table

# Markers around a best cell: control characters, which no result text holds, so they survive
# escaping and become <strong>; the " *" is the text formats' best mark, which the legend explains.
OPEN, CLOSE = "\x02", "\x03"
BEST_BEFORE, BEST_AFTER = OPEN, " *" + CLOSE
BLOCK = ("dataset", "ipc")  # one leaderboard per dataset and ipc: a larger ipc always wins


def cell_html(text: str) -> str:
    return html.escape(text).replace(OPEN, "<strong>").replace(CLOSE, "</strong>")


def _key_class(column: int, keys: int) -> str:
    return ' class="key"' if column < keys else ""  # setting labels read left-aligned, numbers right


def _row(cells: list[str], keys: int, tag: str = "td") -> str:
    inner = "".join(f"<{tag}{_key_class(i, keys)}>{cell_html(c)}</{tag}>" for i, c in enumerate(cells))
    return f"<tr>{inner}</tr>"


def paper_table_html(table: ResultsTable) -> str:
    """The table `results show` prints, as an HTML table with its legend under it."""
    header, body = cell_grid(table, BEST_BEFORE, BEST_AFTER)
    keys = len(header) - len(table.students) - 1
    rows = "".join(_row(r, keys) for r in body)
    return (f'<table id="paper" class="results"><thead>{_row(header, keys, "th")}</thead><tbody>{rows}</tbody></table>'
            f'<p class="legend">{html.escape(legend(table))}</p>')


def setting_keys(df: pd.DataFrame) -> list[str]:
    """A leaderboard row's keys: the grid axes that vary, less those that split the leaderboards."""
    return [k for k in default_by(df) if k not in BLOCK]


def leaderboards(df: pd.DataFrame, metric: str) -> list[tuple[str, ResultsTable]]:
    """(title, table) per dataset and ipc: a row per distilled configuration and evaluation setting."""
    keys = setting_keys(df)
    return [(f"{dataset}, ipc {int(ipc)}", results_table(group, by=keys, metric=metric))
            for (dataset, ipc), group in df.groupby(list(BLOCK), sort=True)]


def _sort_value(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))  # "": missing, sorted last


def _best_first(value: float) -> float:
    return math.inf if math.isnan(value) else -value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def leaderboard_html(table: ResultsTable) -> str:
    """A sortable table (report.js): each cell carries the value it sorts by, each row its setting
    as data-<key> attributes for the filters; first ordered by the mean over students, best first."""
    header, body = cell_grid(table, BEST_BEFORE, BEST_AFTER)
    keys = len(header) - len(table.students) - 1
    statistics = [table.mean[s] for s in table.students] + [table.row_mean]
    kinds = [_column_kind([r[i] for r in body]) for i in range(keys)] + ["number"] * (len(header) - keys)
    sorted_by = ["none"] * (len(header) - 1) + ["descending"]  # the mean, as the rows come
    head = "".join(f'<th{_key_class(i, keys)} data-type="{kind}" aria-sort="{a}" title="sort">{html.escape(h)}</th>'
                   for i, (h, kind, a) in enumerate(zip(header, kinds, sorted_by)))
    order = sorted(range(len(body)), key=lambda r: _best_first(table.row_mean.iloc[r]))
    rows = "".join(_leaderboard_row(table.by, body[r], [_sort_value(s.iloc[r]) for s in statistics])
                   for r in order)
    return (f'<table class="results leaderboard"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f'<p class="shown">{len(order)} of {len(order)} rows shown</p>')


def _column_kind(labels: list[str]) -> str:
    return "number" if all(_is_number(label) for label in labels) else "text"


def _leaderboard_row(by: tuple[str, ...], texts: list[str], statistics: list[str]) -> str:
    """One row: its setting as data-<key> (the filters match those), each cell with its sort value
    (a setting label sorts by itself, a statistic by its unrounded value)."""
    keys = len(texts) - len(statistics)
    data = "".join(f' data-{k}="{html.escape(v)}"' for k, v in zip(by, texts[:keys]))
    sorts = texts[:keys] + statistics
    cells = "".join(f'<td{_key_class(i, keys)} data-sort="{html.escape(s)}">{cell_html(c)}</td>'
                    for i, (s, c) in enumerate(zip(sorts, texts)))
    return f"<tr{data}>{cells}</tr>"


def filters_html(boards: list[tuple[str, ResultsTable]]) -> str:
    """A text box and a select box per setting key; report.js hides the rows that do not match."""
    selects = []
    for key in boards[0][1].by if boards else ():
        values = sorted({label for _, table in boards for label in _labels(table, key)})
        options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
        selects.append(f'<label>{html.escape(key)} <select data-key="{key}"><option value="">all</option>'
                       f"{options}</select></label>")
    return ('<form id="filters"><label>text <input id="filter-text" type="search" '
            f'placeholder="any text in a row"></label>{"".join(selects)}</form>')


def _labels(table: ResultsTable, key: str) -> list[str]:
    header, body = cell_grid(table)
    return [row[header.index(key)] for row in body]
