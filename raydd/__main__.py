"""`python -m raydd ...`: the `raydd` command where the package is importable but not installed."""

from raydd.cli.main import cli

cli(prog_name="raydd")
