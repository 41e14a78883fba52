"""Every flag a page shows on a `raydd ...` command line, or in a `raydd ...` code span of its text,
is an option of that command."""

import re
import shlex

import click
import pytest

from raydd.cli.main import cli
from test_docs import PAGES

SEPARATORS = {"&&", "||", "|", ";"}


def _command_lines(text: str) -> list[str]:
    """Lines of shell blocks (and `raydd ...` lines of untagged blocks), continuations joined and
    the block's own variables put in (`EVAL="--students ..."`, then `raydd evaluate X $EVAL`)."""
    lines, variables = [], {}
    fence = None  # the open block's language ("" untagged), None outside one
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if line.lstrip().startswith("```"):
            fence = line.lstrip()[3:].strip() if fence is None else None
            variables = {}
        elif fence in ("bash", "sh") or (fence == "" and line.startswith("raydd ")):
            assignment = re.fullmatch(r"([A-Z_]+)=(.*)", line.strip())
            if assignment:
                variables[assignment.group(1)] = shlex.split(assignment.group(2))[0]
            for name, value in variables.items():
                line = line.replace("$" + name, value)
            lines.append(line.strip())
    return [line for line in lines if line and not line.startswith("#")]


def _invocations(line: str) -> list[list[str]]:
    """The words after each `raydd` of a shell line, up to the next `&&`, `|` or `;`."""
    invocations, current = [], None
    for word in shlex.split(line, comments=True):
        if word in SEPARATORS:
            current = None
        elif word == "raydd" or word.endswith("/raydd"):
            current = []
            invocations.append(current)
        elif current is not None:
            current.append(word)
    return invocations


def _command(words: list[str]) -> click.Command:
    ctx, command = click.Context(cli), cli
    for word in words:
        if not isinstance(command, click.Group):
            break
        command = command.get_command(ctx, word)
        assert command is not None, f"no raydd command {word!r}"
    return command


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}


def _shown() -> list[tuple[str, str, list[str]]]:
    return [(page.name, line, words) for page in PAGES if page.name != "mtt.md"
            for line in _command_lines(page.read_text()) for words in _invocations(line)]


def _unknown_flags(words: list[str]) -> list[str]:
    command = _command(words)
    flags = [word.split("=", 1)[0] for word in words if re.match(r"--?[A-Za-z]", word)]
    return [flag for flag in flags if flag not in _options(command)]


def test_pages_show_flags():
    assert sum(1 for _, _, words in _shown() if any(w.startswith("--") for w in words)) > 20


@pytest.mark.parametrize("page,line,words", _shown(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_flag_a_page_shows_is_an_option_of_its_command(page, line, words):
    unknown = _unknown_flags(words)
    assert not unknown, f"{page}: `{line}` uses {unknown}, not options of that command"


def _inline_spans(text: str) -> list[str]:
    """`raydd ...` code spans of the text outside fenced blocks (tables included)."""
    spans, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            spans += [span for span in re.findall(r"`([^`]+)`", line) if span.startswith("raydd ")]
    return spans


def _span_flags(span: str) -> tuple[click.Command | None, list[str]]:
    """The command a span names (None when its words name no single command: `status / stop`)
    and the flags it shows, `[--storage S]` and `--format dc|mtt` alike."""
    ctx, command, words = click.Context(cli), cli, span.split()[1:]
    for word in words:
        if not isinstance(command, click.Group):
            if word == "/":  # `status / stop`: several commands
                command = None
            break
        command = command.get_command(ctx, word)
        if command is None:
            break
    flags = re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", span)
    return (None if isinstance(command, click.Group) else command), flags


def _spans() -> list[tuple[str, str]]:
    return [(page.name, span) for page in PAGES if page.name != "mtt.md" for span in _inline_spans(page.read_text())]


def test_pages_name_flags_in_their_text():
    assert sum(1 for _, span in _spans() if "--" in span) > 30


@pytest.mark.parametrize("page,span", _spans())
def test_every_flag_a_code_span_names_is_an_option_of_its_command(page, span):
    command, flags = _span_flags(span)
    if command is None:
        assert not flags, f"{page}: `{span}` shows flags but names no single raydd command"
        return
    unknown = [flag for flag in flags if flag not in _options(command)]
    assert not unknown, f"{page}: `{span}` uses {unknown}, not options of that command"


def test_a_flag_no_command_has_is_caught():
    assert _unknown_flags(["results", "show", "runs/x", "--wehre", "ipc == 1"]) == ["--wehre"]
    assert _unknown_flags(["sweep", "submit", "x.yaml", "--dry-run", "--storage=s3://b/p"]) == []
    command, flags = _span_flags("raydd sweep best SPEC-or-NAME [--top K] [--storage S] [--jsn]")
    assert [flag for flag in flags if flag not in _options(command)] == ["--jsn"]
    assert _span_flags("raydd sweep status / stop SPEC")[0] is None
    lines = _command_lines('```bash\nEVAL="--kd off,on --sedes 2"\nraydd evaluate runs/x $EVAL\n```\n')
    assert [_unknown_flags(words) for line in lines for words in _invocations(line)] == [["--sedes"]]
