"""The one place where an error becomes what a user sees: a short message on stderr, a non-zero exit.

- Bad input and unusable locations: raydd reports them as `ValueError` (every raydd error type,
  `SpecError`, `ArtifactError`, `ResultsError`, `FilterError`, ..., derives from it) or `OSError`
  (missing, unreadable or unwritable files, unreachable storage). They become one line,
  `Error: <message>`, exit 1.
- A sweep file with problems (`SpecError`): a header and one line per problem, exit 2.
- A usage error (a bad option value): one line naming the help to read, exit 2.
- Anything else is a bug: its traceback goes to a file and the one line says where, so it is
  neither shown raw nor lost.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback

import click


class SpecProblems(click.ClickException):
    """Every problem of a sweep file, one per line, exit 2 (as click's usage errors)."""

    exit_code = 2

    def __init__(self, error) -> None:
        super().__init__(str(error))
        self.error = error

    def show(self, file=None) -> None:
        click.echo(f"{self.error.source}: {len(self.error.problems)} problem(s):", err=True)
        for problem in self.error.problems:
            click.echo(f"  - {problem}", err=True)


class OneLineUsageError(click.UsageError):
    """A usage error as one line that names the help to read, instead of click's usage block."""

    def show(self, file=None) -> None:
        hint = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {self.format_message()}{hint}", err=True)


class ErrorBoundary(click.Group):
    """A click group whose commands' errors become one clear message (see the module docstring)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as err:
            raise OneLineUsageError(err.format_message(), err.ctx) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - this is the boundary; every exception is mapped
            raise as_click_error(err) from None


def as_click_error(err: Exception) -> click.ClickException:
    if _is_spec_error(err):
        return SpecProblems(err)
    if isinstance(err, (ValueError, OSError)):
        return click.ClickException(_one_line(err))
    path = _save_traceback(err)
    return click.ClickException(f"internal error, {type(err).__name__}: {_one_line(err)} "
                                f"(full traceback in {path}; please report it)")


def _is_spec_error(err: Exception) -> bool:
    # raydd.spec imports torch; a command that never loaded it (results) cannot raise its errors
    spec = sys.modules.get("raydd.spec.model")
    return spec is not None and isinstance(err, spec.SpecError)


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 1000 else text[:997] + "..."


def _save_traceback(err: Exception) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with tempfile.NamedTemporaryFile("w", prefix=f"raydd-error-{stamp}-", suffix=".txt",
                                     delete=False) as out:
        out.write("".join(traceback.format_exception(err)))
    return out.name
