"""Where a report goes: an .html file raydd wrote before, or a new one, replaced atomically."""

from __future__ import annotations

from pathlib import Path

from raydd.outputs import check_replaceable, write_output

GENERATOR = "raydd results report"  # in every page's <meta name="generator">: how raydd knows its own
MARKER = f'<meta name="generator" content="{GENERATOR}">'
SUFFIXES = (".html", ".htm")
HEAD_BYTES = 4096  # the marker sits in <head>, well within the first few hundred bytes


def check_suffix(out: str | Path) -> Path:
    """`out` as a path, if it names an HTML file (checked before anything is read)."""
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise ValueError(f"report {str(out)!r} must end with {' or '.join(SUFFIXES)}")
    return out


def is_report(path: Path) -> bool:
    with path.open("rb") as existing:
        head = existing.read(HEAD_BYTES).decode("utf-8", errors="replace")
    return MARKER in head


def check_can_replace(out: str | Path, force: bool = False) -> None:
    """Refuse (FileExistsError) to replace an existing file that is not a report raydd wrote,
    unless `force`: a user's page must not be lost to a mistyped --out."""
    check_replaceable(out, is_report, "a report", force)


def write_report(page: str, out: str | Path) -> Path:
    """Write the page so that a reader (or a crash) never leaves half of it in place."""
    return write_output(out, lambda handle: handle.write(page.encode("utf-8")))
