"""`raydd distill`'s flags for the methods' own keys, made from their settings dataclasses.

Each key a method declares (`raydd.core.distill.setting`) is a flag: `lr_net` is `--lr-net`, a
true/false key is `--dsa/--no-dsa`, a key with choices takes only those. Every flag defaults to
"not given", so the method's own default applies and the config records it; a flag of another
method, given explicitly, is refused rather than ignored. A registered method gets its flags with
no change here.
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, Field, fields
from typing import Any

import click

from raydd.cli.options import FINITE_FLOAT
from raydd.core.distill.methods import METHODS, method_keys, methods_with

def method_options(defaults: dict[str, str] | None = None):
    """A decorator adding one flag per key of any method, in the methods' order; `defaults` says,
    for some keys, what leaving the flag out means in this command (in place of the key's default)."""
    def add(command):
        for key in reversed(method_keys()):
            command = _option(key, (defaults or {}).get(key))(command)
        return command
    return add


def given_keys(opts: dict[str, Any], method: str) -> dict[str, Any]:
    """The method's keys whose flags were given: what `DistillConfig` takes beside the shared ones."""
    return {key: opts[key] for key in METHODS.get(method).keys if opts.get(key) is not None}


def foreign_flags(ctx: click.Context, method: str) -> list[tuple[str, list[str]]]:
    """(flag, the methods it belongs to) for every flag given on the command line that `method` has no key for."""
    own, wrong = set(METHODS.get(method).keys), []
    for param in ctx.command.params:
        if param.name in method_keys() and param.name not in own and _given(ctx, param.name):
            wrong.append((param.opts[0], methods_with(param.name)))
    return wrong


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _option(key: str, default: str | None):
    owners = methods_with(key)
    spec = _field(key, owners[0])
    flag, hint = "--" + key.replace("_", "-"), _types(METHODS.get(owners[0]).settings)[key]
    shown = _default_text(spec) if default is None else f" [default: {default}]"
    text = _owners_prefix(owners) + spec.metadata.get("help", "") + shown
    if bool in typing.get_args(hint) or hint is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", key, default=None, help=text)
    if spec.metadata.get("choices"):
        return click.option(flag, key, type=click.Choice(spec.metadata["choices"]), default=None, help=text)
    kinds = {hint, *typing.get_args(hint)}
    kind = int if int in kinds else FINITE_FLOAT if float in kinds else str
    return click.option(flag, key, type=kind, default=None, help=text)


def _field(key: str, method: str) -> Field:
    return next(f for f in fields(METHODS.get(method).settings) if f.name == key)


def _types(settings: type) -> dict[str, Any]:
    return typing.get_type_hints(settings)


def _owners_prefix(owners: list[str]) -> str:
    """`MTT: ` before a key only MTT has; nothing before one every method has."""
    return "" if len(owners) == len(METHODS.names()) else "/".join(owners).upper() + ": "


def _default_text(spec: Field) -> str:
    if "[default:" in spec.metadata.get("help", "") or spec.default is MISSING or spec.default is None:
        return ""
    shown = {True: "on", False: "off"}.get(spec.default, spec.default) if isinstance(spec.default, bool) else spec.default
    return f" [default: {shown}]"


def in_flag_words(message: str) -> str:
    """A settings error (`lr_lr must be ...`) as the command line names it (`--lr-lr must be ...`)."""
    key = message.split(" ", 1)[0]
    if key in method_keys():
        return "--" + key.replace("_", "-") + message[len(key):]
    return message
