"""`raydd results`: tables, queries and plots over a sweep's Parquet rows (no torch, no Ray)."""

from __future__ import annotations

from contextlib import contextmanager

import click

METRIC_OPTION = click.option("--metric", type=click.Choice(["test_acc", "val_acc"]), default="test_acc",
                             show_default=True, help="Which accuracy to report.")
BY_OPTION = click.option("--by", default=None, metavar="K1,K2",
                         help="Comma-separated row keys (default: the grid axes that vary).")


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


@contextmanager
def _clear_errors():
    """Library errors (bad input, unreadable location) become one 'Error: ...' line, exit code 1."""
    try:
        yield
    except ValueError as err:  # ResultsError is a ValueError
        raise click.ClickException(str(err)) from None


@click.group("results")
def results() -> None:
    """Read a sweep's results: paper-style tables, row queries and plots."""


@results.command("show")
@click.argument("location")
@BY_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--vs-baseline", "baseline", multiple=True, metavar="KEY=VALUE[;KEY=VALUE]",
              help="Add each row's difference to the baseline row it names, e.g. "
                   "'pool_name=ConvNet=1.0;kd=false' (repeatable; only the first '=' of a pair splits).")
@METRIC_OPTION
@click.option("--images", is_flag=True,
              help="List each trial's synthetic-image grid PNG instead of the table.")
def show(location: str, by: str | None, fmt: str, baseline: tuple[str, ...], metric: str,
         images: bool) -> None:
    """Table of mean ± std (n) accuracy in % per setting (rows) and student (columns).

    The best cell of each column is marked and a last column averages the students.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results).
    """
    from raydd.results import image_grids, load, parse_baseline, render, results_table

    with _clear_errors():
        base = parse_baseline(baseline) if baseline else None
        df = load(location)
        if images:
            click.echo(image_grids(df).to_string(index=False, na_rep="-"))
            return
        table = results_table(df, by=_split(by), baseline=base, metric=metric)
        click.echo(render(table, fmt), nl=False)



@results.command("query")
@click.argument("location")
@click.option("--where", required=True, metavar="EXPR",
              help="Filter over the columns, e.g. \"kd and student == 'MLP' and ipc in [1, 10]\" (comparisons, in, and/or/not, arithmetic; never run as code).")
@click.option("--out", default=None, metavar="FILE",
              help="Write the rows to FILE.csv or FILE.parquet instead of printing.")
@click.option("--columns", default=None, metavar="C1,C2", help="Comma-separated columns to keep.")
def query_rows(location: str, where: str, out: str | None, columns: str | None) -> None:
    """Select result rows with an expression; print them or export to CSV/Parquet.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results).
    """
    from raydd.results import export, load, query
    from raydd.results.select import check_export_path

    with _clear_errors():
        if out:
            check_export_path(out)
        rows = query(load(location), where, _split(columns))
        if out:
            click.echo(f"{len(rows)} rows -> {export(rows, out)}")
        else:
            click.echo(rows.to_string(index=False))



@results.command("plot")
@click.argument("location")
@click.option("--out", required=True, metavar="FILE.png", help="Image to write (.png, .svg or .pdf).")
@BY_OPTION
@METRIC_OPTION
def plot_cmd(location: str, out: str, by: str | None, metric: str) -> None:
    """Grouped bars per student architecture, one bar per setting, error bars = std over seeds.

    When the sweep varies the main architecture's pool weight, a second figure
    FILE_pool_weight.png plots accuracy against that weight, one line per student.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results).
    """
    from raydd.results import load, plot
    from raydd.results.plot import IMAGE_SUFFIXES

    with _clear_errors():
        if not out.lower().endswith(IMAGE_SUFFIXES):
            raise ValueError(f"--out {out!r} must end with one of {', '.join(IMAGE_SUFFIXES)}")
        for path in plot(load(location), out, by=_split(by), metric=metric):
            click.echo(str(path))

