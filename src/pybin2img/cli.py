"""The ``pybin2img`` command: a thin click layer over :func:`pybin2img.build.build_image`.

It parses, builds the options (:func:`pybin2img.options.build_options`), calls the library and
maps failures to exit codes. stdout carries exactly one line (the image reference with its
digest); everything else goes to stderr. Failures are one line, ``pybin2img: error: …``, and a
stable exit code (see :mod:`pybin2img.errors`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from . import __version__
from .errors import ImageWriteError, Interrupted, Pybin2imgError, UsageError
from .log import Log
from .options import build_options, push_options
from .reference import parse_reference
from .settings import (
    BUILD_SETTINGS,
    PUSH_SETTINGS,
    Source,
    click_options,
    find_pyproject,
    merge,
    read_project,
)


@dataclass
class _State:
    """What the command line says about pybin2img itself, for :func:`main`."""

    debug: bool = False


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(_State).debug = True


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pybin2img")
@debug_option
def cli() -> None:
    """Compile a Python app into a minimal container image (no interpreter, no shell)."""


@cli.command(
    context_settings={"max_content_width": 100},
    short_help="Compile an app into an image tarball (and load or push it).",
)
@click.argument("app", required=False, type=click.Path(path_type=Path))
@click.argument("args", nargs=-1)
@click_options(BUILD_SETTINGS)
@verbose_option
@quiet_option
@debug_option
@click.pass_context
def build(
    ctx: click.Context,
    /,
    app: Path | None,
    args: tuple[str, ...],
    verbose: int,
    quiet: bool,
    **given: Any,
) -> None:
    """Compile APP and write it as an image tarball; print NAME:TAG@sha256:DIGEST.

    APP is a script (app.py), a package directory with __main__.py, or a project directory
    whose pyproject.toml has [project.scripts]; or use -m MODULE. Arguments after `--` become
    the image's default arguments (Cmd). Options also come from PYBIN2IMG_* variables and
    [tool.pybin2img] in the app's pyproject.toml (flag > variable > pyproject > default).
    """
    from .build import build_image  # keeps `pybin2img --help` fast

    log = Log(verbosity=-1 if quiet else verbose)
    project = read_project(find_pyproject(app.absolute() if app else Path.cwd()))
    values, sources = merge(_given(ctx, given), project)
    if verbose:
        where = f" ({project.path})" if project.path else ""
        log.info(f"options{where}:")
        for setting in BUILD_SETTINGS:
            log.info(f"  {setting.name:<18} {values[setting.dest]!r}  [{sources[setting.dest]}]")
    options = build_options(
        values,
        sources=sources,
        app=app,
        args=args,
        project=project,
        environ=os.environ,
        password=_password() if values["password_stdin"] else None,
        default_python=Path(sys.executable),
    )
    if options.compression == "zstd":
        log.warning("zstd layers need Docker 23 or newer (and containerd 1.5, podman 4) to load")
    result = build_image(options, log)
    if values["metadata_file"]:
        write_json(values["metadata_file"].absolute(), result.to_json())
    if os.environ.get("GITHUB_OUTPUT"):
        _github_output(Path(os.environ["GITHUB_OUTPUT"]), result.github_outputs())
    click.echo(result.pushed.pinned_reference if result.pushed else result.pinned_reference)


def _given(ctx: click.Context, given: dict[str, Any]) -> dict[str, tuple[Any, Source | None]]:
    """Each setting's value with where click found it: ``flag``, its variable, or nowhere."""
    found: dict[str, tuple[Any, Source | None]] = {}
    for setting in BUILD_SETTINGS:
        source = ctx.get_parameter_source(setting.dest)
        if source is ParameterSource.COMMANDLINE:
            found[setting.dest] = (given[setting.dest], "flag")
        elif source is ParameterSource.ENVIRONMENT:
            found[setting.dest] = (given[setting.dest], setting.envvar)
        else:
            found[setting.dest] = (given[setting.dest], None)
    return found


def _password() -> str:
    """As `docker login --password-stdin`: all of stdin, without the final line break."""
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


def write_json(path: Path, document: Any) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    from .oci.write import write_atomically

    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_atomically(path, text.encode())


def _github_output(path: Path, outputs: dict[str, str]) -> None:
    """Append step outputs for GitHub Actions (``$GITHUB_OUTPUT``)."""
    try:
        with path.open("a", encoding="utf-8") as f:
            for key, value in outputs.items():
                f.write(f"{key}={value}\n")
    except OSError as exc:
        raise ImageWriteError(f"cannot append to GITHUB_OUTPUT {path}: {exc.strerror}") from exc


@cli.command(short_help="Push an image tarball to a registry, no Docker daemon needed.")
@click.argument("tarball", metavar="IMAGE.tar", type=click.Path(path_type=Path))
@click.argument("reference", metavar="REFERENCE")
@click.option("--tag", "extra_tags", multiple=True, metavar="TAG", help="Also push under this tag.")
@click_options(PUSH_SETTINGS)
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write what was pushed, and the bytes uploaded and skipped, as JSON.",
)
@verbose_option
@quiet_option
@debug_option
def push(
    tarball: Path,
    reference: str,
    extra_tags: tuple[str, ...],
    insecure_registry: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    metadata_file: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Push IMAGE.tar to REFERENCE (registry.example.com/team/app:1.2), no Docker daemon needed.

    Prints REFERENCE@sha256:DIGEST on stdout.
    """
    from .ship.push import push_image  # requests is slow to import

    target = parse_reference(reference)
    for tag in extra_tags:
        parse_reference(f"{target.repository}:{tag}")  # the tag grammar, with its error message
    options = push_options(
        os.environ,
        username=username,
        password=_password() if password_stdin else None,
        insecure_registries=insecure_registry,
        mount_from=mount_from,
        extra_tags=extra_tags,
        metadata_file=metadata_file,
    )
    result = push_image(
        tarball.absolute(), target, options=options, log=Log(verbosity=-1 if quiet else verbose)
    )
    click.echo(result.pinned_reference)


@cli.command(short_help="Check an image tarball and show what is in it.")
@click.argument("tarball", metavar="IMAGE.tar", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@debug_option
def inspect(tarball: Path, as_json: bool) -> None:
    """Check IMAGE.tar (digests, sizes, diff_ids, index and manifest.json agreeing) and show
    its config, layers, size by part and largest files. Exits 10 on any inconsistency."""
    from .oci.inspection import format_report, inspect_tarball

    if not tarball.is_file():
        raise UsageError(f"image tarball {tarball} does not exist")
    report = inspect_tarball(str(tarball))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        click.echo(format_report(report))


@cli.command(short_help="Show the shared libraries of ELF files, as glibc's loader finds them.")
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print the closures as JSON.")
@click.option(
    "--library-path",
    multiple=True,
    metavar="DIR",
    help="Directory searched before the system ones (never the host's LD_LIBRARY_PATH).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/"),
    help="Resolve inside this root filesystem (FILEs are paths inside it).",
)
@debug_option
def deps(files: tuple[Path, ...], as_json: bool, library_path: tuple[str, ...], root: Path) -> None:
    """Print the shared-library tree of each ELF FILE, found as glibc's loader would find it
    (nothing is executed). Exits 5 when a library cannot be found."""
    from .resolve.deps import closure_json, format_tree, resolve_files

    paths = []
    for file in files:
        path = file if root != Path("/") else file.absolute()
        if not (root / str(path).lstrip("/")).is_file():
            raise UsageError(f"{file} is not a file")
        paths.append(str(path))
    closures = resolve_files(paths, root=str(root), library_path=library_path)
    if as_json:
        click.echo(json.dumps([closure_json(c) for c in closures], indent=2))
    else:
        click.echo("\n\n".join(format_tree(c) for c in closures))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = _State(debug=os.environ.get("PYBIN2IMG_DEBUG") == "1")
    try:
        cli.main(args=args, prog_name="pybin2img", standalone_mode=False, obj=state)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        message = exc.format_message()
        hint = " (see pybin2img --help)" if isinstance(exc, click.UsageError) else ""
        _fail(f"{message}{hint}", exc.exit_code, state.debug)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _fail(Interrupted("interrupted").message, Interrupted.exit_code, state.debug)
    except Pybin2imgError as exc:
        _fail(exc.message, exc.exit_code, state.debug, exc.details)
    except Exception as exc:  # noqa: BLE001 - the last resort: one line and exit 1
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug and report it)",
            1,
            state.debug,
        )
    sys.exit(0)


def _fail(message: str, code: int, debug: bool, details: str | None = None) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"pybin2img: error: {message}", err=True)
    if details:
        click.echo(details, err=True)
    sys.exit(code)
