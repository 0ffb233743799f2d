"""What the commands share: :func:`click_options` (one click option per setting), the
``--debug``, ``-v`` and ``-q`` flags with the :class:`State` ``--debug`` sets, the passwords
read from stdin or asked on a terminal, and JSON written for ``--metadata-file``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..settings import Setting


def click_options(settings: tuple[Setting, ...]) -> Callable[[Callable[..., Any]], Any]:
    """A decorator adding one click option per setting."""

    def decorate(function: Callable[..., Any]) -> Any:
        for setting in reversed(settings):
            flag = (
                f"{setting.flag}/--no-{setting.name}" if setting.kind == "switch" else setting.flag
            )
            decls = [flag, *([setting.short] if setting.short else []), setting.dest]
            kwargs: dict[str, Any] = {
                "help": setting.help,
                "show_default": setting.default not in (None, False, ()),
            }
            if setting.configurable:
                kwargs.update(envvar=setting.envvar, show_envvar=True)
            if setting.kind == "flag":
                kwargs.update(is_flag=True, default=False)
            elif setting.kind == "switch":
                kwargs.update(is_flag=True, default=setting.default, show_default=True)
            elif setting.kind == "optional":
                kwargs.update(is_flag=False, flag_value="", default=None, metavar=setting.metavar)
            else:
                kwargs.update(default=setting.default, metavar=setting.metavar)
                if setting.repeatable:
                    kwargs.update(multiple=True, default=())
                if setting.kind in ("path", "paths"):
                    kwargs["type"] = click.Path(path_type=Path)
                elif setting.kind == "int":
                    kwargs["type"] = click.IntRange(min=1)
                elif setting.kind == "choice":
                    kwargs["type"] = click.Choice(setting.choices)
            function = click.option(*decls, **kwargs)(function)
        return function

    return decorate


@dataclass
class State:
    """What the command line says about pybin2img itself, for :func:`main`."""

    debug: bool = False


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).debug = True


#: ``--debug``, declared once; accepted before or after the command's name. Arguments after
#: ``--`` are the app's, so ``build app.py -t x -- --debug`` passes it to the app only.
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Show the traceback of a failure (also PYBIN2IMG_DEBUG=1).",
)


verbose_option = click.option("-v", "--verbose", count=True, help="Show details.")


quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing but the result.")


def stdin_password() -> str:
    """As `docker login --password-stdin`: all of stdin, without the final line break."""
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


def write_json(path: Path, document: Any) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    from ..oci import write_atomically

    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_atomically(path, text.encode())


def key_password(path: Path, *, confirm: bool = False) -> str | None:
    """``COSIGN_PASSWORD``, as cosign reads it (empty is a password); else asked on a
    terminal when the key needs one; else ``None``."""
    from ..ship import is_encrypted

    if "COSIGN_PASSWORD" in os.environ:
        return os.environ["COSIGN_PASSWORD"]
    if sys.stdin.isatty() and (confirm or is_encrypted(path)):
        return str(
            click.prompt(
                f"Password for {path}",
                hide_input=True,
                confirmation_prompt=confirm,
                default="",
                show_default=False,
                err=True,
            )
        )
    return None
