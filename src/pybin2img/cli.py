"""The ``pybin2img`` command: a thin click layer over :func:`pybin2img.build.build_image`.

stdout carries exactly one line (the image reference with its digest); everything else goes to
stderr. Failures are one line, ``pybin2img: error: …``, and a stable exit code (see
:mod:`pybin2img.errors`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from . import __version__
from .compile.app import resolve_app
from .errors import ImageWriteError, Interrupted, Pybin2imgError, UsageError
from .log import Log
from .options import BuildOptions
from .reference import parse_reference
from .settings import (
    BUILD_SETTINGS,
    ProjectConfig,
    click_options,
    find_pyproject,
    load_project_config,
)

if TYPE_CHECKING:
    from .ship.push import PushOptions

F = TypeVar("F", bound=Callable[..., Any])


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


def _push_flags(command: F) -> F:
    """The registry options ``build --push`` and ``push`` share."""
    for option in reversed(
        (
            click.option(
                "--insecure-registry",
                "insecure_registries",
                multiple=True,
                metavar="HOST[:PORT]",
                help="Registry reached over plain HTTP or unverified TLS (loopback always is).",
            ),
            click.option(
                "--mount-from",
                metavar="REPO",
                help="Repository on the same registry to mount missing blobs from.",
            ),
            click.option("--username", help="Registry user [default: from Docker's config.json]."),
            click.option(
                "--password-stdin", is_flag=True, help="Read the registry password from stdin."
            ),
        )
    ):
        command = option(command)
    return command


def _push_options(
    environ: dict[str, str],
    *,
    username: str | None,
    password_stdin: bool,
    insecure_registries: tuple[str, ...],
    mount_from: str | None,
    extra_tags: tuple[str, ...] = (),
    metadata_file: Path | None = None,
) -> PushOptions:
    from .ship.credentials import Credentials
    from .ship.push import PushOptions

    if bool(username) != password_stdin:
        raise UsageError("--username and --password-stdin go together")
    credentials = None
    if username:
        # As `docker login --password-stdin`: all of stdin, without the final line break.
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
        if not password:
            raise UsageError("--password-stdin: stdin holds no password")
        credentials = Credentials(
            username=username, password=password, source="--username/--password-stdin"
        )
    docker_config = environ.get("DOCKER_CONFIG") or os.path.join(Path.home(), ".docker")
    ca_bundle = environ.get("SSL_CERT_FILE") or environ.get("REQUESTS_CA_BUNDLE")
    return PushOptions(
        credentials=credentials,
        docker_config=Path(docker_config),
        environ=environ,
        insecure_registries=insecure_registries,
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        mount_from=mount_from,
        extra_tags=extra_tags,
        metadata_file=metadata_file.absolute() if metadata_file else None,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pybin2img")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def cli(debug: bool) -> None:
    """Compile a Python app into a minimal container image (no interpreter, no shell)."""


@cli.command(
    context_settings={"max_content_width": 100},
    short_help="Compile an app into an image tarball (and load or push it).",
)
@click.argument("app", required=False, type=click.Path(path_type=Path))
@click.argument("args", nargs=-1)
@click_options(BUILD_SETTINGS)
@click.option("-v", "--verbose", count=True, help="Show details and Nuitka's own output.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but the result line.")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
@click.pass_context
def build(
    ctx: click.Context,
    /,
    app: Path | None,
    args: tuple[str, ...],
    verbose: int,
    quiet: bool,
    debug: bool,
    **given: Any,
) -> None:
    """Compile APP and write it as an image tarball; print NAME:TAG@sha256:DIGEST.

    APP is a script (app.py), a package directory with __main__.py, or a project directory
    whose pyproject.toml has [project.scripts]; or use -m MODULE. Arguments after `--` become
    the image's default arguments (Cmd). Options also come from PYBIN2IMG_* variables and
    [tool.pybin2img] in the app's pyproject.toml (flag > variable > pyproject > default).
    """
    from .build import build_image  # keeps `pybin2img --help` fast

    environ = dict(os.environ)
    log = Log(verbosity=-1 if quiet else verbose)
    config = load_project_config(find_pyproject(app.absolute() if app else Path.cwd()))
    values, sources = _merge(ctx, given, config)
    if verbose:
        where = f" ({config.path})" if config.path else ""
        log.info(f"options{where}:")
        for setting in BUILD_SETTINGS:
            log.info(f"  {setting.name:<18} {values[setting.dest]!r}  [{sources[setting.dest]}]")

    if not values["tag"]:
        raise UsageError("give the image reference with -t NAME[:TAG] (or tag in [tool.pybin2img])")
    reference = parse_reference(values["tag"])
    push_requested = values["push"]
    registry_flags = ("insecure_registry", "mount_from", "username", "password_stdin")
    if not push_requested and any(sources[k] == "flag" for k in registry_flags):
        raise UsageError("registry options (--username, --mount-from, …) need --push")
    app_spec = resolve_app(app, module=values["module"], script=values["script"])
    workdir = values["workdir"]
    if not workdir.startswith("/"):
        raise UsageError(f"--workdir {workdir!r} must be an absolute path")
    for item in values["env"]:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"--env {item!r} must be KEY=VALUE")
    options = BuildOptions(
        app=app_spec,
        reference=reference,
        output=(values["output"] or Path(f"{reference.name}.tar")).absolute(),
        base=_base(values["base"]),
        ca_certs=values["ca_certs"],
        tzdata=values["tzdata"],
        python=(values["python"] or Path(sys.executable)).absolute(),
        requirements=values["requirements"].absolute() if values["requirements"] else None,
        load=values["load"],
        push=push_requested,
        push_options=_push_options(
            environ,
            username=values["username"],
            password_stdin=values["password_stdin"],
            insecure_registries=values["insecure_registry"],
            mount_from=values["mount_from"],
        )
        if push_requested
        else None,
        user=values["user"],
        workdir=workdir,
        env=values["env"],
        cmd=args or values["cmd"],
        labels=_pairs(values["label"], "--label"),
        licenses=_project_license(config),
        annotations=_pairs(values["annotation"], "--annotation"),
        ports=_ports(values["port"]),
        stop_signal=values["stop_signal"],
        library_path=tuple(str(p.absolute()) for p in values["library_path"]),
        extra_libs=values["add_library"],
        include_data=values["include_data"],
        nuitka_args=values["nuitka_arg"],
        jobs=values["jobs"],
        compression=values["compression"],
        smoke_test=values["smoke_test"],
        smoke_timeout=values["smoke_timeout"],
        cache_dir=_cache_dir(environ),
        source_date_epoch=_epoch(environ),
        docker_env={
            k: v
            for k, v in environ.items()
            if k in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
        },
    )
    if options.compression == "zstd":
        log.warning("zstd layers need Docker 23 or newer (and containerd 1.5, podman 4) to load")
    result = build_image(options, log)
    if values["metadata_file"]:
        write_json(values["metadata_file"].absolute(), result.to_json())
    if environ.get("GITHUB_OUTPUT"):
        _github_output(Path(environ["GITHUB_OUTPUT"]), result.github_outputs())
    click.echo(result.pushed.pinned_reference if result.pushed else result.pinned_reference)


def _project_license(config: ProjectConfig) -> str | None:
    """``[project] license`` of the pyproject.toml: an SPDX expression or ``{text = ...}``."""
    license_ = config.document.get("project", {}).get("license")
    if isinstance(license_, dict):
        license_ = license_.get("text")
    return license_ if isinstance(license_, str) and license_ else None


def _base(value: str) -> str:
    """``scratch``, ``distroless``, or the absolute path of an image tarball that exists."""
    if value in ("scratch", "distroless"):
        return value
    path = Path(value).absolute()
    if not path.is_file():
        raise UsageError(f"--base {value!r} is neither scratch, distroless nor an image tarball")
    return str(path)


def _merge(
    ctx: click.Context, given: dict[str, Any], config: ProjectConfig
) -> tuple[dict[str, Any], dict[str, str]]:
    """Flag > environment > [tool.pybin2img] > default, with where each value came from."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in BUILD_SETTINGS:
        value = given[setting.dest]
        source = ctx.get_parameter_source(setting.dest)
        if source is ParameterSource.COMMANDLINE:
            sources[setting.dest] = "flag"
        elif source is ParameterSource.ENVIRONMENT:
            sources[setting.dest] = setting.envvar
        elif setting.dest in config.values:
            value = config.values[setting.dest]
            sources[setting.dest] = "pyproject"
        else:
            sources[setting.dest] = "default"
        values[setting.dest] = value
    return values, sources


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
@_push_flags
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write what was pushed, and the bytes uploaded and skipped, as JSON.",
)
@click.option("-v", "--verbose", count=True, help="Show each blob and every retry.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but the result line.")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def push(
    tarball: Path,
    reference: str,
    extra_tags: tuple[str, ...],
    insecure_registries: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    metadata_file: Path | None,
    verbose: int,
    quiet: bool,
    debug: bool,
) -> None:
    """Push IMAGE.tar to REFERENCE (registry.example.com/team/app:1.2), no Docker daemon needed.

    Prints REFERENCE@sha256:DIGEST on stdout.
    """
    from .ship.push import push_image  # requests is slow to import

    target = parse_reference(reference)
    for tag in extra_tags:
        parse_reference(f"{target.repository}:{tag}")  # the tag grammar, with its error message
    options = _push_options(
        dict(os.environ),
        username=username,
        password_stdin=password_stdin,
        insecure_registries=insecure_registries,
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
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def inspect(tarball: Path, as_json: bool, debug: bool) -> None:
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
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def deps(
    files: tuple[Path, ...], as_json: bool, library_path: tuple[str, ...], root: Path, debug: bool
) -> None:
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
