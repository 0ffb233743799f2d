"""The command group, ``build`` and the local commands (``inspect``, ``deps``, ``cache``), and
:func:`main`, which runs them and turns every failure into one line and a stable exit code
(the registry commands are in ``_remote``, what they share in ``_click``)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .._version import __version__
from ..errors import ImageWriteError, Interrupted, Pybin2imgError, UsageError
from ..log import Log
from ..options import build_options
from ..settings import BUILD_SETTINGS, Source, find_pyproject, merge, read_project
from ._click import (
    State,
    click_options,
    debug_option,
    key_password,
    quiet_option,
    stdin_password,
    verbose_option,
    write_json,
)
from ._remote import generate_key, index, push, sign


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pybin2img")
@debug_option
def cli() -> None:
    """Compile a Python app into a minimal container image (no interpreter, no shell)."""


for _command in (push, generate_key, sign, index):
    cli.add_command(_command)


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
    from ..build import build_image  # keeps `pybin2img --help` fast

    log = Log(verbosity=-1 if quiet else verbose)
    project = read_project(find_pyproject(app.absolute() if app else Path.cwd()))
    values, sources = merge(_given(ctx, given), project)
    if verbose:
        where = f" ({project.path})" if project.path else ""
        log.info(f"options{where}:")
        for setting in BUILD_SETTINGS:
            value = values[setting.dest]
            if setting.dest == "ccache_remote_storage" and value:
                from ..compile import redacted  # its URL may hold a password

                value = " ".join(redacted(url) for url in value.split())
            log.info(f"  {setting.name:<18} {value!r}  [{sources[setting.dest]}]")
    options = build_options(
        values,
        sources=sources,
        app=app,
        args=args,
        project=project,
        environ=os.environ,
        password=stdin_password() if values["password_stdin"] else None,
        default_python=Path(sys.executable),
    )
    if options.compression == "zstd" and not options.load:  # --load checks its engine
        log.warning("zstd layers need Docker 23 or newer (and containerd 1.5, podman 4) to load")
    if options.sign_key and options.sign_password is None:
        options = dataclasses.replace(options, sign_password=key_password(options.sign_key))
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


def _github_output(path: Path, outputs: dict[str, str]) -> None:
    """Append step outputs for GitHub Actions (``$GITHUB_OUTPUT``)."""
    try:
        with path.open("a", encoding="utf-8") as f:
            for key, value in outputs.items():
                f.write(f"{key}={value}\n")
    except OSError as exc:
        raise ImageWriteError(f"cannot append to GITHUB_OUTPUT {path}: {exc.strerror}") from exc


@cli.command(short_help="Check an image tarball and show what is in it.")
@click.argument("tarball", metavar="IMAGE.tar", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@debug_option
def inspect(tarball: Path, as_json: bool) -> None:
    """Check IMAGE.tar (digests, sizes, diff_ids, index and manifest.json agreeing) and show
    its config, layers, size by part and largest files. Exits 10 on any inconsistency."""
    from ..oci import format_report, inspect_tarball

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
    from ..resolve import closure_json, format_tree, resolve_files

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


@cli.group("cache", short_help="Show the cache directory by kind, or prune it.")
def cache_group() -> None:
    """The cache directory: PYBIN2IMG_CACHE_DIR, else $XDG_CACHE_HOME/pybin2img."""


@cache_group.command("info", short_help="Show the cache directory's size by kind.")
@click.option("--json", "as_json", is_flag=True, help="Print the sizes as JSON.")
@debug_option
def cache_info(as_json: bool) -> None:
    """Show how much the build environments, compiled dists, layer blobs, ccache's files and
    Nuitka's caches take in the cache directory."""
    from ..cache import Cache
    from ..cachecmd import cache_info, format_info
    from ..options import cache_dir

    info = cache_info(Cache(cache_dir(os.environ)))
    click.echo(json.dumps(info.to_json(), indent=2) if as_json else format_info(info))


@cache_group.command("prune", short_help="Remove the least recently used cache entries.")
@click.option("--max-size", metavar="SIZE", help="Remove entries until the cache is this small.")
@click.option(
    "--older-than",
    metavar="DAYS",
    type=click.FloatRange(min=0),
    help="Remove entries unused for more than DAYS days.",
)
@debug_option
def cache_prune(max_size: str | None, older_than: float | None) -> None:
    """Remove cache entries, the least recently used first, until the cache is at most
    --max-size (500M, 2G, 1.5GiB), and every entry unused for --older-than DAYS. An entry a
    running build uses is never removed."""
    from ..cache import Cache
    from ..cachecmd import format_prune, parse_size, prune
    from ..options import cache_dir

    limit = parse_size(max_size) if max_size is not None else None
    result = prune(Cache(cache_dir(os.environ)), max_size=limit, older_than=older_than)
    click.echo(format_prune(result))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    args = _dash_values_kept(list(sys.argv[1:] if argv is None else argv))
    state = State(debug=os.environ.get("PYBIN2IMG_DEBUG") == "1")
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


def _dash_values_kept(args: list[str]) -> list[str]:
    """click reads ``--smoke-test=--help`` as the bare flag followed by an option ``--help``:
    an option whose value may be left out never takes one that starts with ``-``. A leading
    space keeps it a value (these values are split with shlex, which drops the space)."""
    optional = {s.flag for s in BUILD_SETTINGS if s.kind == "optional"}
    kept: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":  # the app's own arguments
            return [*kept, *args[i:]]
        name, equals, value = arg.partition("=")
        kept.append(f"{name}= {value}" if equals and name in optional and value[:1] == "-" else arg)
    return kept


def _fail(message: str, code: int, debug: bool, details: str | None = None) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"pybin2img: error: {message}", err=True)
    if details:
        click.echo(details, err=True)
    sys.exit(code)
