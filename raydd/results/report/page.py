"""The whole page: header, paper-style table, leaderboards, plots and contact sheets."""

from __future__ import annotations

import html
from importlib.resources import files

import pandas as pd

from raydd.results.report.images import figure_html, plot_pictures, sheet_pictures
from raydd.results.report.output import MARKER
from raydd.results.report.tables import filters_html, leaderboard_html, leaderboards, paper_table_html
from raydd.results.table import results_table

ASSETS = files("raydd.results.report")


def _asset(name: str) -> str:
    return ASSETS.joinpath(name).read_text(encoding="utf-8")


def _head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{MARKER}'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_asset('report.css')}</style></head>")


def _summary(df: pd.DataFrame, sources: list[str], where: str | None, metric: str, baseline: dict | None) -> str:
    facts = [("rows", str(len(df))), ("read from", ", ".join(sources)), ("metric", metric)]
    facts += [("filter", where)] if where else []
    facts += [("baseline", ";".join(f"{k}={v}" for k, v in baseline.items()))] if baseline else []
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


BOARD_NOTE = ('<p class="legend">A row per distilled configuration and evaluation setting; its cells read as '
              'in the table above, whose legend explains them. The filters hide the rows of every leaderboard '
              'that do not hold the text or the chosen values.</p>')
NAVIGATION = ('<nav><a href="#table">table</a> <a href="#leaderboards">leaderboards</a> '
              '<a href="#plots">plots</a> <a href="#sets">synthetic sets</a></nav>')


def build_report(df: pd.DataFrame, sources: list[str], where: str | None = None, metric: str = "test_acc",
                 baseline: dict | None = None) -> str:
    """The report over `df` (rows already filtered by `where`, which the page names) as one HTML
    string. Every table and figure is computed before any text is put together, so a bad baseline
    or metric fails here, not halfway through a page."""
    table = results_table(df, baseline=baseline, metric=metric)
    boards = leaderboards(df, metric)
    plots, sheets = plot_pictures(df, metric, baseline), sheet_pictures(df)
    title = "raydd results: " + ", ".join(map(str, dict.fromkeys(df["sweep"])))
    board_html = "".join(f'<div class="board"><h3>{html.escape(name)}</h3>{leaderboard_html(t)}</div>'
                         for name, t in boards)
    body = [
        f"<header><h1>{html.escape(title)}</h1>{_summary(df, sources, where, metric, baseline)}{NAVIGATION}</header>",
        _section("table", "Paper-style table (as raydd results show prints it)", paper_table_html(table)),
        _section("leaderboards", "Leaderboards per dataset and ipc (click a column to sort)",
                 BOARD_NOTE + filters_html(boards) + board_html),
        _section("plots", "Plots (as raydd results plot draws them)", "".join(map(figure_html, plots))),
        _section("sets", "Synthetic sets", "".join(map(figure_html, sheets)) or "<p>no sets</p>"),
    ]
    return f"{_head(title)}<body>{''.join(body)}<script>{_asset('report.js')}</script></body></html>\n"
