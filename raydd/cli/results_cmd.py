"""`raydd results`: tables, queries and plots over a sweep's Parquet rows (no torch, no Ray)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from raydd.cli.errors import ErrorBoundary
from raydd.cli.options import check_output_file

METRIC_OPTION = click.option("--metric", type=click.Choice(["test_acc", "val_acc"]), default="test_acc",
                             show_default=True, help="Which accuracy to report.")
SKIP_BAD_OPTION = click.option("--skip-bad", is_flag=True,
                                help="Skip result files that cannot be read (each named in a warning) "
                                     "instead of stopping at the first.")
# how rows are printed (raydd.results.records.ROW_FORMATS; raydd.results loads pandas, so it is
# not imported before a command runs)
ROW_FORMATS = ("table", "csv", "json")
BY_OPTION = click.option("--by", default=None, metavar="K1,K2",
                         help="Comma-separated row keys (default: the grid axes that vary).")


def force_option(own: str):
    """`--force`, alike on every command that writes a file a user names (`raydd.outputs`)."""
    return click.option("--force", is_flag=True,
                        help=f"Replace an existing --out even when it is not {own}; without it only raydd's "
                             "own output is replaced. The write is atomic either way.")


def baseline_option(effect: str):
    """`--vs-baseline`, read alike by every command that compares with a baseline row."""
    return click.option("--vs-baseline", "baseline", multiple=True, metavar="KEY=VALUE[;KEY=VALUE]",
                        help=f"{effect}, e.g. 'pool_name=ConvNet=1.0;kd=off' (repeatable: each adds its "
                             "pairs to the one baseline; only the first '=' of a pair splits; kd takes off/on "
                             "or false/true).")


def where_option(effect: str):
    """`--where`, one filter language for every command that reads rows (`raydd.results.where`)."""
    return click.option("--where", default=None, metavar="EXPR",
                        help=f"{effect}, e.g. \"kd == 'on' and student == 'MLP' and ipc in [1, 10]\" "
                             "(comparisons, in, and/or/not, arithmetic; never run as code). A filter that "
                             "keeps no row is an error.")


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


@contextmanager
def _warnings_on_stderr():
    """What a reader skipped or merged (ResultsWarning), said on stderr, one line each."""
    from raydd.results.store import ResultsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        yield
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)


def _load_all(locations: tuple[str, ...], skip_bad: bool):
    """The rows of every location (each once) as one frame."""
    import pandas as pd

    frames = [_load(location, skip_bad) for location in dict.fromkeys(locations)]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _filtered(df, where: str | None, locations: tuple[str, ...]):
    """The rows --where keeps; none kept is an error naming the filter and what was read."""
    from raydd.results.select import filter_rows

    return filter_rows(df, where, ", ".join(dict.fromkeys(locations)))


def _load(location: str, skip_bad: bool):
    from raydd.results import load

    with _warnings_on_stderr():
        return load(location, skip_bad=skip_bad)


@click.group("results", cls=ErrorBoundary)
def results() -> None:
    """Read a sweep's results: paper-style tables, row queries and plots."""


@results.command("show")
@click.argument("locations", nargs=-1, required=True, metavar="LOCATION...")
@BY_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json", "latex"]), default="table",
              show_default=True, help="Output format; json is one document on stdout, each cell's mean, std, n, "
                                      "best and significance as fields (--images: table, csv or json).")
@baseline_option("Add each row's difference to the baseline row it names")
@where_option("Tabulate only the rows this filter keeps")
@METRIC_OPTION
@click.option("--images", is_flag=True,
              help="List each trial's synthetic-image grid PNG instead of the table.")
@click.option("--scores", is_flag=True,
              help="Print DD-Ranking's scores instead (HLR, IOR, LRS, ARS per set and student, then over the "
                   "distilled sets); needs random_real and whole_dataset rows beside the sets (docs/evaluation.md).")
@SKIP_BAD_OPTION
def show(locations: tuple[str, ...], by: str | None, fmt: str, baseline: tuple[str, ...], where: str | None,
         metric: str, images: bool, scores: bool, skip_bad: bool) -> None:
    """Table of mean ± std (n) accuracy in % per setting (rows) and student (columns).

    The best cell of each column is marked and a last column averages the students.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results);
    several go into one table (a sweep's rows beside those of `raydd evaluate --out`).
    """

    from raydd.results import image_grids, parse_baseline, render, results_table
    from raydd.results.records import render_rows

    if scores:
        from raydd.results.score_tables import SCORE_FORMATS

        if images or baseline or by:
            raise ValueError("--scores prints DD-Ranking's scores per set and student; it takes no --images, "
                             "--vs-baseline or --by")
        if fmt not in SCORE_FORMATS:
            raise ValueError(f"--scores prints {', '.join(SCORE_FORMATS)}, not {fmt}")
    if images and fmt not in ROW_FORMATS:
        raise ValueError(f"--images lists the grids as {', '.join(ROW_FORMATS)}, not {fmt}")
    base = parse_baseline(baseline) if baseline else None
    df = _filtered(_load_all(locations, skip_bad), where, locations)
    if images:
        click.echo(render_rows(image_grids(df), fmt, na_rep="-"), nl=False)
        return
    if scores:
        from raydd.results.score_tables import render_scores

        click.echo(render_scores(df, fmt, metric), nl=False)
        return
    table = results_table(df, by=_split(by), baseline=base, metric=metric)
    click.echo(render(table, fmt), nl=False)


@results.command("query")
@click.argument("locations", nargs=-1, required=True, metavar="LOCATION...")
@where_option("Only the rows this filter keeps; without it, every row")
@click.option("--out", default=None, metavar="FILE",
              help="Write the rows to FILE.csv or FILE.parquet instead of printing.")
@click.option("--columns", default=None, metavar="C1,C2", help="Comma-separated columns to keep.")
@click.option("--format", "fmt", type=click.Choice(ROW_FORMATS), default="table", show_default=True,
              help="How the rows are printed; json is one document on stdout, {columns, rows: [records]}.")
@force_option("a Parquet file raydd wrote (a CSV file carries no mark, so an existing one always needs it)")
@SKIP_BAD_OPTION
def query_rows(locations: tuple[str, ...], where: str | None, out: str | None, columns: str | None, fmt: str,
               force: bool, skip_bad: bool) -> None:
    """Select result rows with an expression (or all of them); print them or export to CSV/Parquet.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results);
    the rows of several are selected together, as `results show` reads them.
    """
    from raydd.results import export, query
    from raydd.results.records import render_rows
    from raydd.results.select import check_export_path

    if out:
        if fmt != "table":
            raise ValueError(f"--format {fmt} prints the rows and --out writes them to a file (its suffix picks "
                             "the format); give one of the two")
        check_output_file(check_export_path(out, force))
    rows = query(_filtered(_load_all(locations, skip_bad), where, locations), None, _split(columns))
    if out:
        click.echo(f"{len(rows)} rows -> {export(rows, out, force)}")
    else:
        click.echo(render_rows(rows, fmt), nl=False)


@results.command("images")
@click.argument("locations", nargs=-1, required=True, metavar="LOCATION...")
@click.option("--out", required=True, metavar="FILE.png", help="Contact sheet to write (.png, .svg or .pdf).")
@where_option("Only the sets of the rows this filter keeps")
@force_option("an image raydd wrote")
@SKIP_BAD_OPTION
def images_cmd(locations: tuple[str, ...], out: str, where: str | None, force: bool, skip_bad: bool) -> None:
    """One page with every evaluated set's synthetic images: a row per set (its trial key and
    the settings that vary), a column per class, titled with the class's name.

    LOCATION is a results directory or URI; several go onto one sheet.
    """
    from raydd.results import contact_sheet
    from raydd.results.figures import check_image_out

    check_output_file(check_image_out(out, "contact sheet", force))  # before anything is read
    df = _filtered(_load_all(locations, skip_bad), where, locations)
    click.echo(f"contact sheet -> {contact_sheet(df, out, force)}")


@results.command("plot")
@click.argument("locations", nargs=-1, required=True, metavar="LOCATION...")
@click.option("--out", required=True, metavar="FILE.png", help="Image to write (.png, .svg or .pdf).")
@BY_OPTION
@baseline_option("Plot each setting's difference to the baseline row it names, as `results show` does")
@where_option("Plot only the rows this filter keeps")
@METRIC_OPTION
@force_option("an image raydd wrote")
@SKIP_BAD_OPTION
def plot_cmd(locations: tuple[str, ...], out: str, by: str | None, baseline: tuple[str, ...], where: str | None,
             metric: str, force: bool, skip_bad: bool) -> None:
    """Grouped bars per student architecture, one bar per setting, error bars = std over seeds.

    The value axis starts a little below the lowest bar's mean - std, not at 0; a caption under
    the plot gives n (seeds per bar) and the spread convention. With --vs-baseline the bars are
    differences to the baseline, marked † where Welch's t-test finds them significant.

    When the sweep varies the main architecture's pool weight, a second figure
    FILE_pool_weight.png plots accuracy against that weight, one line per student.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results);
    several are plotted together (a sweep's rows beside `raydd evaluate --out` runs).
    """
    from raydd.results import parse_baseline, plot
    from raydd.results.figures import check_image_out

    check_output_file(check_image_out(out, "--out", force))
    base = parse_baseline(baseline) if baseline else None
    df = _filtered(_load_all(locations, skip_bad), where, locations)
    for path in plot(df, out, by=_split(by), metric=metric, baseline=base, force=force):
        click.echo(str(path))


@contextmanager
def _sweep_lease(location: str):
    """Hold the sweep's lease when LOCATION is a sweep's results directory: no driver writes or
    checks its rows meanwhile (`sweep resume` waits), and no second compaction runs."""
    from raydd import storage
    from raydd.sweep import lease
    from raydd.sweep.layout import SweepPaths

    results = storage.absolute(location).rstrip("/")
    paths = SweepPaths(results.rsplit("/", 1)[0] if storage.is_uri(results) else str(Path(results).parent))
    if paths.results != results or not storage.exists(paths.spec):
        yield
        return
    with lease.hold(paths.lease, echo=lambda line: click.echo(line, err=True)):
        yield


@results.command("compact")
@click.argument("locations", nargs=-1, required=True, metavar="LOCATION...")
@click.option("--max-rows", type=click.IntRange(min=1), default=None,
              help="Rows per compacted file at most (default: 100,000).")
@SKIP_BAD_OPTION
def compact_cmd(locations: tuple[str, ...], max_rows: int, skip_bad: bool) -> None:
    """Merge a results directory's one-file-per-job Parquet files into a few large ones.

    Readers (`results show`, `raydd.results.load`) see every row once throughout, also when the
    compaction is killed: a rerun finishes it. `sweep resume` counts compacted jobs as done.
    Only files holding raydd result rows are merged and removed; anything else stays.

    It takes no --where: it rewrites storage, every row file whole, rather than reading rows.

    LOCATION is a results directory or URI (runs/my-sweep/results, s3://bucket/my-sweep/results).
    Several are each looked at first, then compacted in turn, each under its own sweep's lease,
    with a line per location; a failure stops at that location, and those before it stay compacted.
    """
    from raydd.results.compact import MAX_ROWS, check_compactable, compact

    locations = tuple(dict.fromkeys(locations))
    for location in locations:  # a typo in the last location changes nothing in the first
        check_compactable(location)
    for location in locations:
        with _sweep_lease(location), _warnings_on_stderr():
            report = compact(location, max_rows=max_rows or MAX_ROWS, skip_bad=skip_bad)
        click.echo(report.describe())


def _read_rows(locations: tuple[str, ...], skip_bad: bool, where: str | None):
    return _filtered(_load_all(locations, skip_bad), where, locations)


from raydd.cli.report_cmd import report_command  # noqa: E402 - its own module; a `results` command all the same

results.add_command(report_command(_read_rows))
