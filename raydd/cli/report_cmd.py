"""`raydd results report`: one self-contained HTML page over a sweep's result rows."""

from __future__ import annotations

from typing import Callable, Optional

import click

# (locations, skip_bad, where) -> the rows, read, merged and filtered as every `results` command
# reads them: raydd.cli.results_cmd hands its reader in, since it imports this module to register
# the command (an import back would be a circle).
RowReader = Callable[[tuple, bool, Optional[str]], "pandas.DataFrame"]
METRICS = ("test_acc", "val_acc")  # raydd.results.table.METRICS, named here so `--help` loads no pandas


def report_command(read_rows: RowReader) -> click.Command:
    """The `results report` command, reading rows through `read_rows`."""

    @click.command("report")
    @click.argument("locations", nargs=-1, required=True, metavar="LOCATION...")
    @click.option("--out", required=True, metavar="FILE.html", help="Page to write (.html or .htm).")
    @click.option("--where", default=None, metavar="EXPR",
                  help="Only the rows this filter keeps, as `results query --where` reads it, e.g. \"ipc == 10\".")
    @click.option("--vs-baseline", "baseline", multiple=True, metavar="KEY=VALUE[;KEY=VALUE]",
                  help="Table and plot each row's difference to the baseline row it names, as `results show "
                       "--vs-baseline` reads it, e.g. 'pool_name=ConvNet=1.0;kd=off'.")
    @click.option("--metric", type=click.Choice(METRICS), default="test_acc", show_default=True,
                  help="Which accuracy to report.")
    @click.option("--force", is_flag=True, help="Replace --out even when it is not a report raydd wrote.")
    @click.option("--skip-bad", is_flag=True,
                  help="Skip result files that cannot be read (each named in a warning) instead of stopping "
                       "at the first.")
    def report(locations: tuple[str, ...], out: str, where: str | None, baseline: tuple[str, ...], metric: str,
               force: bool, skip_bad: bool) -> None:
        """One static HTML page (no server, no network) with the paper-style table as `results show`
        prints it, a leaderboard per dataset and ipc (sortable by any column, with filters), the
        figures of `results plot` and each synthetic set's contact sheet, all images embedded.

        LOCATION is a results directory or URI; several go into one page, as in `results show`.
        """
        from raydd.cli.options import check_output_file
        from raydd.results import parse_baseline
        from raydd.results.report import build_report, check_can_replace, write_report
        from raydd.results.report.output import check_suffix

        check_output_file(check_suffix(out))  # --out and the baseline are checked before any row is read
        check_can_replace(out, force)
        base = parse_baseline(baseline) if baseline else None
        df = read_rows(locations, skip_bad, where)
        page = build_report(df, list(dict.fromkeys(locations)), where=where, metric=metric, baseline=base)
        click.echo(f"report -> {write_report(page, out)}")

    return report
