"""docs/results.md against the commands: each command it documents exists, each option it names
(in the command's section and in its examples) is in that command's --help, and each option of a
documented command is in its section."""

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.cli.results_cmd import results

DOC = Path(__file__).resolve().parents[1] / "docs" / "results.md"
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def _sections() -> dict[str, str]:
    """Each `## raydd results NAME` section's text, by NAME."""
    parts = re.split(r"^## raydd results (\S+)\n", DOC.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def _examples(text: str) -> list[tuple[str, str]]:
    """(command, line) of each `raydd results COMMAND ...` line of the bash blocks, continuations joined."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found = re.match(r"raydd results (\S+)", line)
            if found:
                lines.append((found.group(1), line))
    return lines


def _help(command: str) -> str:
    result = CliRunner().invoke(cli, ["results", command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_page_documents_commands_that_exist():
    sections = _sections()
    assert len(sections) >= 5
    assert set(sections) <= set(results.commands), set(sections) - set(results.commands)


@pytest.mark.parametrize("command", sorted(_sections()))
def test_each_option_named_in_a_section_is_in_the_commands_help(command):
    named = set(OPTION.findall(_sections()[command]))
    assert named, f"the section of {command} names no option"
    shown = set(OPTION.findall(_help(command)))
    assert named <= shown, f"{command}: {sorted(named - shown)} not in its --help"


@pytest.mark.parametrize("command", sorted(_sections()))
def test_each_option_of_a_documented_command_is_in_its_section(command):
    options = {o for p in results.commands[command].params if isinstance(p, click.Option) for o in p.opts}
    missing = {o for o in options if o.startswith("--")} - set(OPTION.findall(_sections()[command]))
    assert not missing, f"{command}: {sorted(missing)} not in docs/results.md"


def test_each_example_uses_a_command_and_options_it_has():
    examples = _examples(DOC.read_text())
    assert {command for command, _ in examples} == set(_sections())  # an example per command
    for command, line in examples:
        assert command in results.commands, line
        unknown = set(OPTION.findall(line)) - set(OPTION.findall(_help(command)))
        assert not unknown, f"{line}: {sorted(unknown)}"
