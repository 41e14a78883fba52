"""`raydd list`: what the registries hold."""

from __future__ import annotations

import click

from raydd.cli.errors import ErrorBoundary


@click.group("list", cls=ErrorBoundary)
def list_group() -> None:
    """List registered architectures, datasets, distillation methods, or the result columns."""


@list_group.command("archs")
@click.argument("pattern", default="*")
def list_archs(pattern: str) -> None:
    """Architectures (students, teachers, pool members); PATTERN is a wildcard like 'ConvNet*'."""
    from raydd.core.archs import ARCHS

    for name in ARCHS.names(pattern):
        click.echo(name)


@list_group.command("datasets")
def list_datasets() -> None:
    """Datasets: the embedded `digits` and the torchvision ones."""
    from raydd.core.datasets import DATASETS

    for name in DATASETS.names():
        click.echo(name)


@list_group.command("methods")
def list_methods() -> None:
    """Distillation methods (dc, dsa, dm, mtt)."""
    from raydd.core.distill import METHODS

    for name in METHODS.names():
        click.echo(name)


@list_group.command("columns")
def list_columns() -> None:
    """The result rows' columns (type, null or not, meaning) as a Markdown table: docs/schema.md."""
    from raydd.results.schema_doc import columns_markdown

    click.echo(columns_markdown(), nl=False)
