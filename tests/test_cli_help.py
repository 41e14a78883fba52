"""Every command and subcommand of `raydd` documents itself."""

import click
from click.testing import CliRunner

from raydd.cli.main import COMMANDS, cli


def _walk(command: click.Command, ctx: click.Context, path: str):
    yield path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, ctx, f"{path} {name}")


def test_every_command_has_help_text():
    ctx = click.Context(cli)
    seen = dict(_walk(cli, ctx, "raydd"))
    assert set(COMMANDS) <= {p.split()[1] for p in seen if " " in p}
    missing = [p for p, c in seen.items() if not (c.help or "").strip()]
    assert not missing, f"commands without help text: {missing}"


def test_every_command_answers_help():
    runner = CliRunner()
    for path, _ in _walk(cli, click.Context(cli), "raydd"):
        result = runner.invoke(cli, path.split()[1:] + ["--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
