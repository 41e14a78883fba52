"""The `raydd` command. Subcommands load lazily so that `raydd results` never imports torch or Ray."""

from __future__ import annotations

import importlib

import click

from raydd import __version__
from raydd.cli.errors import ErrorBoundary

# command name -> "module:attribute" of a click command in raydd.cli
COMMANDS = {
    "list": "raydd.cli.list_cmd:list_group",
    "experts": "raydd.cli.experts_cmd:experts",
    "distill": "raydd.cli.distill_cmd:distill",
    "evaluate": "raydd.cli.evaluate_cmd:evaluate",
    "export": "raydd.cli.export_cmd:export",
    "sweep": "raydd.cli.sweep_cmd:sweep",
    "results": "raydd.cli.results_cmd:results",
}


class LazyGroup(ErrorBoundary):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="raydd")
def cli() -> None:
    """raydd: dataset distillation with model pools and KD evaluation, swept on Ray.

    Distill a synthetic set (`raydd distill`), judge it on many architectures
    (`raydd evaluate`), run whole grids of both on Ray (`raydd sweep`), read the
    Parquet results (`raydd results`), and write a set for other codes (`raydd export`).
    """
