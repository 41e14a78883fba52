"""Result rows in Parquet: atomic write, load, summaries, paper-style tables and plots.

Depends on pandas, pyarrow, numpy and matplotlib only (never torch or Ray), so a sweep's
results can be read on any machine. The row schema is documented in `raydd.results.schema`.
Plotting (`plot`, `bar_figure`, `pool_weight_figure`) loads matplotlib on first use, so that
writing and reading rows (every evaluation actor writes them) never imports it.
"""

from raydd.results.render import RENDERERS, render
from raydd.results.schema import COLUMNS, RESULT_SCHEMA, to_table
from raydd.results.select import export, image_grids, query
from raydd.results.store import ResultsError, ResultsNotFoundError, load, write_rows
from raydd.results.table import (
    GRID_AXES,
    ResultsTable,
    default_by,
    parse_baseline,
    results_table,
    summarise,
)

PLOTTING = ("bar_figure", "contact_sheet", "contact_sheet_figure", "plot", "pool_weight_figure")  # in raydd.results.figures, loaded on first use


def __getattr__(name: str):
    if name in PLOTTING:
        from raydd.results import figures

        return getattr(figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COLUMNS", "GRID_AXES", "RENDERERS", "RESULT_SCHEMA", "ResultsError", "ResultsNotFoundError",
    "ResultsTable", "bar_figure", "contact_sheet", "contact_sheet_figure", "default_by", "export", "image_grids", "load", "parse_baseline",
    "plot", "pool_weight_figure", "query", "render", "results_table", "summarise", "to_table",
    "write_rows",
]
