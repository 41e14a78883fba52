"""`raydd results report` without a browser: the page's table against `results show`, its images,
and every refusal as one line with nothing written or lost."""

from __future__ import annotations

import base64
import html
import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from report_rows import BASELINE, write_report_rows


@pytest.fixture(scope="module")
def location(tmp_path_factory):
    return write_report_rows(tmp_path_factory.mktemp("report"))


def run(*args):
    return CliRunner().invoke(cli, ["results", *args])


@pytest.fixture(scope="module")
def page(location, tmp_path_factory):
    """The report with every default, built once for the tests that only read it."""
    out = tmp_path_factory.mktemp("page") / "report.html"
    made = run("report", location, "--out", str(out))
    assert made.exit_code == 0 and made.output == f"report -> {out}\n", made.output
    return out


class _TableCells(HTMLParser):
    """The text of each cell of the table with id="paper", row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.inside = self.in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "paper") in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data):
        if self.inside and self.in_cell:
            self.rows[-1][-1] += data


def _markdown_cells(text: str) -> list[list[str]]:
    """`show --format markdown`'s rows as the page writes them: bold `**x**` as `x *`."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    rows = [[c.strip() for c in re.split(r"(?<!\\) \| ", line.strip("| "))] for line in lines]
    return [[re.sub(r"\*\*(.*?)\*\*", r"\1 *", c) for c in row] for row in rows if row[0] != "---"]


@pytest.mark.parametrize("extra", [(), ("--vs-baseline", BASELINE), ("--where", "ipc == 10", "--metric", "val_acc")])
def test_the_table_holds_the_cells_and_legend_results_show_prints(location, page, tmp_path, extra):
    out = page if not extra else tmp_path / "report.html"
    if extra:
        made = run("report", location, "--out", str(out), *extra)
        assert made.exit_code == 0, made.output
    shown = run("show", location, "--format", "markdown", *extra)
    text = out.read_text()
    parser = _TableCells()
    parser.feed(text)
    assert parser.rows == _markdown_cells(shown.output) and len(parser.rows) > 1
    assert html.escape(shown.output.strip().splitlines()[-1]) in text  # the legend, marks explained
    if "--vs-baseline" in extra:
        assert any("‡" in cell for row in parser.rows for cell in row) and "‡ = the same test" in text


def test_every_image_is_an_embedded_png_and_nothing_is_fetched(page):
    text = page.read_text()
    sources = re.findall(r'<img src="([^"]*)"', text)
    assert len(sources) == 2 + 6  # bar and pool-weight figures, a contact sheet per set
    for source in sources:
        prefix, _, data = source.partition(",")
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert not re.search(r"https?://|<link|<script src|@import", text)


@pytest.mark.parametrize("out, args, message", [
    ("old.html", (), "is a directory"),
    ("FILE/report.html", (), "is a file, not a directory"),
    ("/proc/raydd-report.html", (), "is not writable"),  # a place no one, root included, can create a file
    ("report.txt", (), "must end with .html or .htm"),
    ("report.html", ("--where", "ipc == 3"), 'no result rows match --where "ipc == 3"'),
    ("report.html", ("--vs-baseline", "pool_name=nowhere"), "matches no row"),
    ("report.html", ("--vs-baseline", "kd"), "not key=value"),
])
def test_a_bad_out_or_filter_is_one_line_and_writes_nothing(location, tmp_path, out, args, message):
    (tmp_path / "FILE").write_text("a file")
    (tmp_path / "old.html").mkdir()
    result = run("report", location, "--out", str(tmp_path / out), *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "old.html"]
    assert not any((tmp_path / "old.html").iterdir())


def test_a_file_raydd_did_not_write_is_kept_unless_forced(location, tmp_path):
    out = tmp_path / "notes.html"
    out.write_text("<p>my notes</p>")
    refused = run("report", location, "--out", str(out))
    assert refused.exit_code == 1 and "is not a report raydd wrote" in refused.output
    assert out.read_text() == "<p>my notes</p>"
    assert run("report", location, "--out", str(out), "--force", "--where", "ipc == 10").exit_code == 0
    assert "raydd results report" in out.read_text()
    assert run("report", location, "--out", str(out), "--where", "ipc == 10").exit_code == 0  # its own page


def test_a_failure_after_reading_keeps_the_earlier_report(location, page, tmp_path):
    out = tmp_path / "report.html"
    out.write_bytes(page.read_bytes())
    before = out.read_bytes()
    failed = run("report", location, "--out", str(out), "--vs-baseline", "pool_name=nowhere")
    assert failed.exit_code == 1 and out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left behind


def test_the_metrics_offered_are_the_tables():
    from raydd.cli.report_cmd import METRICS as OFFERED
    from raydd.results.table import METRICS

    assert sorted(OFFERED) == sorted(METRICS)
