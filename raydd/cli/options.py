"""Option types and checks shared by the commands: finite numbers, devices, writable output files."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click

from raydd.atomic import check_can_create


class FiniteFloat(click.ParamType):
    """A float that is neither NaN nor infinite: `--lr-img nan` is refused while parsing."""

    name = "number"

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()


def finite_floats(text: str, option: str) -> tuple[float, ...]:
    """Comma-separated finite numbers (`--alphas 0.25,0.5`)."""
    try:
        numbers = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        numbers = ()
    if not numbers or not all(math.isfinite(n) for n in numbers):
        raise click.BadParameter(f"expected comma-separated finite numbers, got {text!r}", param_hint=option)
    return numbers


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA is not available on this machine", param_hint="--device")
    return name


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """`path` as a file this process can create or replace, checked before any work."""
    path = Path(path)
    if path.is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint=option)
    try:
        check_can_create(path)
    except OSError as err:
        raise click.BadParameter(str(err), param_hint=option) from None
    return path


class PositiveFloat(FiniteFloat):
    """A finite float above 0 (learning rates): `--lr-lr 0` is refused while parsing."""

    name = "positive number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number <= 0:
            self.fail(f"{value!r} is not above 0", param, ctx)
        return number


POSITIVE_FLOAT = PositiveFloat()
