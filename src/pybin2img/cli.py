"""The ``pybin2img`` command: a thin click layer over :func:`pybin2img.build.build_image`.

stdout carries exactly one line (the image reference with its digest); everything else goes to
stderr. Failures are one line, ``pybin2img: error: …``, and a stable exit code (see
:mod:`pybin2img.errors`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from . import __version__
from .errors import Interrupted, Pybin2imgError, UsageError
from .log import Log
from .options import AppKind, AppSpec, BuildOptions
from .reference import parse_reference


def _cache_dir(environ: dict[str, str]) -> Path:
    if environ.get("PYBIN2IMG_CACHE_DIR"):
        return Path(environ["PYBIN2IMG_CACHE_DIR"]).absolute()
    xdg = environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(xdg, "pybin2img").absolute()


def _epoch(environ: dict[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds")
    return int(value)


def _pairs(values: Sequence[str], what: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {value!r} must be KEY=VALUE")
        pairs.append((key, val))
    return tuple(pairs)


def _ports(values: Sequence[str]) -> tuple[str, ...]:
    ports = []
    for value in values:
        number, _, proto = value.partition("/")
        proto = proto or "tcp"
        if (
            not number.isdigit()
            or not 0 < int(number) < 65536
            or proto not in ("tcp", "udp", "sctp")
        ):
            raise UsageError(f"port {value!r} must be NUMBER[/tcp|udp|sctp]")
        ports.append(f"{int(number)}/{proto}")
    return tuple(ports)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pybin2img")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def cli(debug: bool) -> None:
    """Compile a Python app into a minimal container image (no interpreter, no shell)."""


@cli.command()
@click.argument("app", type=click.Path(path_type=Path))
@click.option("-t", "--tag", "tag", required=True, metavar="NAME[:TAG]", help="Image reference.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Tarball to write [default: ./NAME.tar].",
)
@click.option("--load", is_flag=True, help="Load the image into the Docker engine (DOCKER_HOST).")
@click.option(
    "--base",
    type=click.Choice(["scratch", "distroless"]),
    default="scratch",
    show_default=True,
    help="What the image holds besides the app.",
)
@click.option(
    "--python",
    type=click.Path(path_type=Path),
    help="Interpreter that compiles the app [default: the one running pybin2img].",
)
@click.option(
    "-r",
    "--requirements",
    type=click.Path(path_type=Path),
    help="The app's requirements: installed with Nuitka into a cached build environment.",
)
@click.option("--user", default="65532", show_default=True, help="User the app runs as.")
@click.option("--workdir", default="/app", show_default=True, help="Working directory.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Environment variable.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Image label.")
@click.option("--port", "ports", multiple=True, metavar="PORT[/PROTO]", help="Exposed port.")
@click.option(
    "--library-path",
    multiple=True,
    metavar="DIR",
    help="Directory searched for shared libraries before the system ones.",
)
@click.option(
    "--add-library",
    "extra_libs",
    multiple=True,
    metavar="NAME",
    help="Shared library the app dlopens by name (e.g. libuuid.so.1).",
)
@click.option("--nuitka-arg", "nuitka_args", multiple=True, help="Extra argument for Nuitka.")
@click.option("--jobs", type=click.IntRange(min=1), help="Parallel C compile jobs [default: CPUs].")
@click.option("-v", "--verbose", count=True, help="Show details and Nuitka's own output.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but the result line.")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def build(
    app: Path,
    tag: str,
    output: Path | None,
    load: bool,
    base: str,
    python: Path | None,
    requirements: Path | None,
    user: str,
    workdir: str,
    env: tuple[str, ...],
    labels: tuple[str, ...],
    ports: tuple[str, ...],
    library_path: tuple[str, ...],
    extra_libs: tuple[str, ...],
    nuitka_args: tuple[str, ...],
    jobs: int | None,
    verbose: int,
    quiet: bool,
    debug: bool,
) -> None:
    """Compile APP (a .py script) and write it as an image tarball.

    Prints NAME:TAG@sha256:DIGEST on stdout.
    """
    from .build import build_image  # keeps `pybin2img --help` fast

    environ = dict(os.environ)
    reference = parse_reference(tag)
    if not workdir.startswith("/"):
        raise UsageError(f"--workdir {workdir!r} must be an absolute path")
    for item in env:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"--env {item!r} must be KEY=VALUE")
    options = BuildOptions(
        app=AppSpec(kind=AppKind.SCRIPT, path=app.absolute()),
        reference=reference,
        output=(output or Path(f"{reference.name}.tar")).absolute(),
        base=base,
        python=(python or Path(sys.executable)).absolute(),
        requirements=requirements.absolute() if requirements else None,
        load=load,
        user=user,
        workdir=workdir,
        env=env,
        labels=_pairs(labels, "--label"),
        ports=_ports(ports),
        library_path=library_path,
        extra_libs=extra_libs,
        nuitka_args=nuitka_args,
        jobs=jobs,
        cache_dir=_cache_dir(environ),
        source_date_epoch=_epoch(environ),
        docker_env={
            k: v
            for k, v in environ.items()
            if k in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
        },
    )
    log = Log(verbosity=-1 if quiet else verbose)
    result = build_image(options, log)
    click.echo(result.pinned_reference)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("PYBIN2IMG_DEBUG") == "1"
    try:
        cli.main(args=args, prog_name="pybin2img", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        message = exc.format_message()
        hint = " (see pybin2img --help)" if isinstance(exc, click.UsageError) else ""
        _fail(f"{message}{hint}", exc.exit_code, debug)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _fail(Interrupted("interrupted").message, Interrupted.exit_code, debug)
    except Pybin2imgError as exc:
        _fail(exc.message, exc.exit_code, debug, exc.details)
    except Exception as exc:
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug and report it)",
            1,
            debug,
        )
    sys.exit(0)


def _fail(message: str, code: int, debug: bool, details: str | None = None) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"pybin2img: error: {message}", err=True)
    if details:
        click.echo(details, err=True)
    sys.exit(code)
