"""The ``pybin2img`` command: a thin click layer over :func:`pybin2img.build.build_image`.

stdout carries exactly one line (the image reference with its digest); everything else goes to
stderr. Failures are one line, ``pybin2img: error: …``, and a stable exit code (see
:mod:`pybin2img.errors`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .errors import Interrupted, Pybin2imgError, UsageError
from .log import Log
from .options import AppKind, AppSpec, BuildOptions
from .reference import parse_reference

if TYPE_CHECKING:
    from .push import PushOptions

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
    from .credentials import Credentials
    from .push import PushOptions

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
@click.option("--push", is_flag=True, help="Push the image to the registry the tag names.")
@_push_flags
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
    push: bool,
    insecure_registries: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
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
    if not push and (insecure_registries or mount_from or username or password_stdin):
        raise UsageError("registry options (--username, --mount-from, …) need --push")
    options = BuildOptions(
        app=AppSpec(kind=AppKind.SCRIPT, path=app.absolute()),
        reference=reference,
        output=(output or Path(f"{reference.name}.tar")).absolute(),
        base=base,
        python=(python or Path(sys.executable)).absolute(),
        requirements=requirements.absolute() if requirements else None,
        load=load,
        push=push,
        push_options=_push_options(
            environ,
            username=username,
            password_stdin=password_stdin,
            insecure_registries=insecure_registries,
            mount_from=mount_from,
        )
        if push
        else None,
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


@cli.command()
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
    from .push import push_image  # requests is slow to import

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
