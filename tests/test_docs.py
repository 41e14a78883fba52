"""README and docs/ say what the code does: links resolve, every command they show exists."""

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from raydd.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+://|mailto:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_names_a_file_that_exists(page):
    missing = [t for t in _relative_links(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def _command_words(line: str) -> list[str]:
    """`raydd sweep status X --json` -> ['sweep', 'status']: the words naming a (sub)command."""
    words = line.split("#", 1)[0].rstrip(" \\").split()
    starts = [i + 1 for i, w in enumerate(words) if w == "raydd" or w.endswith("/raydd")]
    start = starts[0] if starts else len(words)
    return [w for w in words[start:start + 2] if re.fullmatch(r"[a-z][a-z-]*", w)]


def _resolves(words: list[str]) -> bool:
    ctx = click.Context(cli)
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group):
            return True  # the rest are arguments
        sub = command.get_command(ctx, word)
        if sub is None:
            return False
        command = sub
    return True


def _shown_commands() -> list[tuple[str, str]]:
    shown = []
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh)\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.splitlines():
                if re.search(r"(^|[\s/])raydd ", line) and not line.lstrip().startswith("#"):
                    shown.append((page.name, line.strip()))
    return shown


def test_pages_show_commands():
    assert len(_shown_commands()) > 20


@pytest.mark.parametrize("page,line", _shown_commands())
def test_every_command_a_page_shows_exists(page, line):
    words = _command_words(line)
    assert words and _resolves(words), f"{page}: `{line}` names no raydd command"


MINE = """\
name: mine
dataset: {name: digits}
distill:
  method: dc
  iterations: 10
grid:
  ipc: [1]
  pool:
    - {archs: [ConvNet], probabilities: [1.0]}
    - {archs: [ConvNet, ConvNetW64], probabilities: [0.8, 0.1]}
evaluation:
  students: [ConvNet, MLP, LeNet, VGG12]
"""


def test_readme_error_example_is_what_raydd_prints(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"```\n(sweeps/mine\.yaml: .*?)```", readme, flags=re.S).group(1)
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "mine.yaml").write_text(MINE)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", "submit", "sweeps/mine.yaml", "--dry-run"])
    assert result.exit_code == 2
    assert result.output == shown


def test_sweep_format_lists_every_shipped_sweep():
    page = (ROOT / "docs" / "sweep-format.md").read_text()
    missing = [p.name for p in sorted((ROOT / "sweeps").glob("*.yaml")) if f"`sweeps/{p.name}`" not in page]
    assert not missing, f"docs/sweep-format.md does not list {missing}"
