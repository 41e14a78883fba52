"""`results query|plot|images --out`: an existing file raydd did not write is refused in one line
and kept byte for byte, raydd's own is replaced, --force replaces any, and a failed write leaves the
earlier file as it was (raydd.outputs)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.outputs import is_raydd_image, is_raydd_parquet
from test_results_support import location  # noqa: F401 - the module's rows, a fixture

FOREIGN = b"a user's own file\n"
# (command, --out name); a CSV file carries no mark, so it is never taken for raydd's
MARKED = [("query", "rows.parquet"), ("plot", "fig.png"), ("plot", "fig.svg"), ("plot", "fig.pdf"),
          ("images", "sheet.png")]
ALL = MARKED + [("query", "rows.csv")]


def run(command: str, location: str, out, *args):
    return CliRunner().invoke(cli, ["results", command, location, "--out", str(out), *args])


def _is_raydd_output(path) -> bool:
    if path.suffix == ".csv":
        return "trial_key" in path.read_text().splitlines()[0].split(",")  # the rows' header
    return is_raydd_parquet(path) if path.suffix == ".parquet" else is_raydd_image(path)


def _one_line_error(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: "), result.output
    return result.output


@pytest.mark.parametrize("command,name", ALL)
def test_a_file_raydd_did_not_write_is_refused_and_kept(location, tmp_path, command, name):  # noqa: F811
    out = tmp_path / name
    out.write_bytes(FOREIGN)
    message = _one_line_error(run(command, location, out))
    assert str(out) in message and "--force" in message
    assert out.read_bytes() == FOREIGN
    assert [p.name for p in tmp_path.iterdir()] == [name]  # nothing beside it either (no _pool_weight figure)


@pytest.mark.parametrize("command,name", ALL)
def test_a_directory_at_out_is_named_as_one(location, tmp_path, command, name):  # noqa: F811
    (tmp_path / name).mkdir()
    assert "is a directory" in _one_line_error(run(command, location, tmp_path / name), exit_code=2)  # a usage error
    assert not any((tmp_path / name).iterdir())


@pytest.mark.parametrize("command,name", MARKED)
def test_raydd_own_output_is_replaced_without_force(location, tmp_path, command, name):  # noqa: F811
    out = tmp_path / name
    assert run(command, location, out).exit_code == 0
    first = out.stat().st_ino
    assert run(command, location, out).exit_code == 0
    assert out.stat().st_ino != first and _is_raydd_output(out)  # a new file renamed over the old one


def test_raydd_own_csv_needs_force_too(location, tmp_path):  # noqa: F811
    out = tmp_path / "rows.csv"
    assert run("query", location, out).exit_code == 0
    before = out.read_bytes()
    assert "carries no mark" in _one_line_error(run("query", location, out))
    assert out.read_bytes() == before
    assert run("query", location, out, "--force").exit_code == 0


@pytest.mark.parametrize("command,name", ALL)
def test_force_replaces_a_file_raydd_did_not_write(location, tmp_path, command, name):  # noqa: F811
    out = tmp_path / name
    out.write_bytes(FOREIGN)
    result = run(command, location, out, "--force")
    assert result.exit_code == 0, result.output
    assert _is_raydd_output(out)


@pytest.mark.parametrize("command,name", ALL)
def test_a_failed_write_keeps_the_earlier_file(location, tmp_path, monkeypatch, command, name):  # noqa: F811
    out = tmp_path / name
    out.write_bytes(FOREIGN)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("raydd.atomic.os.fsync", disk_full)  # after the bytes went out, before the rename
    assert "No space left on device" in _one_line_error(run(command, location, out, "--force"))
    assert out.read_bytes() == FOREIGN
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left behind


def test_a_foreign_pool_weight_figure_stops_the_plot_before_anything_is_written(location, tmp_path):  # noqa: F811
    beside = tmp_path / "fig_pool_weight.png"
    beside.write_bytes(FOREIGN)
    assert str(beside) in _one_line_error(run("plot", location, tmp_path / "fig.png"))
    assert beside.read_bytes() == FOREIGN and not (tmp_path / "fig.png").exists()


def test_an_image_mark_is_read_from_either_end(tmp_path):
    """PNG and SVG carry the mark near the start, PDF near the end; a long file is read at both ends."""
    from raydd.outputs import MARK_WINDOW

    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(b"%PDF" + b"x" * (3 * MARK_WINDOW) + b"/Creator (raydd) >>")
    svg = tmp_path / "other.svg"
    svg.write_bytes(b"<svg><dc:title>someone else</dc:title>" + b"x" * (3 * MARK_WINDOW) + b"raydd</svg>")
    assert is_raydd_image(pdf) and not is_raydd_image(svg)
