"""The ``pybin2img`` command: a thin click layer over :func:`pybin2img.build.build_image`.

It parses, builds the options (:func:`pybin2img.options.build_options`), calls the library and
maps failures to exit codes. stdout carries exactly one line (the image reference with its
digest); everything else goes to stderr. Failures are one line, ``pybin2img: error: …``, and a
stable exit code (see :mod:`pybin2img.errors`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from ._version import __version__
from .errors import ImageWriteError, Interrupted, Pybin2imgError, UsageError
from .log import Log
from .options import build_options, registry_options
from .reference import parse_reference
from .settings import (
    BUILD_SETTINGS,
    PUSH_SETTINGS,
    Setting,
    Source,
    find_pyproject,
    merge,
    read_project,
)

if TYPE_CHECKING:  # requests is slow to import: only the commands that reach a registry need it
    from .registry import RegistryOptions
    from .ship import PushOptions


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
            value = values[setting.dest]
            if setting.dest == "ccache_remote_storage" and value:
                from .compile import redacted  # its URL may hold a password

                value = " ".join(redacted(url) for url in value.split())
            log.info(f"  {setting.name:<18} {value!r}  [{sources[setting.dest]}]")
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
    if options.sign_key and options.sign_password is None:
        options = dataclasses.replace(options, sign_password=_key_password(options.sign_key))
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
    from .oci import write_atomically

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
    registry_ca: tuple[Path, ...],
    sign_key: Path | None,
    metadata_file: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Push IMAGE.tar to REFERENCE (registry.example.com/team/app:1.2), no Docker daemon needed.

    Prints REFERENCE@sha256:DIGEST on stdout.
    """
    from .ship import push_image  # requests is slow to import

    target = parse_reference(reference)
    for tag in extra_tags:
        parse_reference(f"{target.repository}:{tag}")  # the tag grammar, with its error message
    registry = _registry(username, password_stdin, insecure_registry, registry_ca)
    options = _push_options(mount_from, extra_tags, metadata_file)
    log = Log(verbosity=-1 if quiet else verbose)
    key = _signing_key(sign_key) if sign_key else None
    result = push_image(tarball.absolute(), target, registry=registry, options=options, log=log)
    if key:
        from .ship import sign_pushed

        sign_pushed(target, [result.digest], key, registry=registry, log=log)
    click.echo(result.pinned_reference)


def _registry(
    username: str | None,
    password_stdin: bool,
    insecure_registries: tuple[str, ...],
    registry_ca: tuple[Path, ...],
) -> RegistryOptions:
    """The registry options of ``push``, ``sign`` and ``index``, from their flags and the
    environment (:func:`pybin2img.options.registry_options`)."""
    return registry_options(
        os.environ,
        username=username,
        password=_password() if password_stdin else None,
        insecure_registries=insecure_registries,
        registry_ca=registry_ca,
    )


def _push_options(
    mount_from: str | None, extra_tags: tuple[str, ...], metadata_file: Path | None
) -> PushOptions:
    """What ``push`` and ``index --push`` do besides reaching the registry."""
    from .ship import PushOptions

    return PushOptions(
        mount_from=mount_from,
        extra_tags=extra_tags,
        metadata_file=metadata_file.absolute() if metadata_file else None,
    )


def _key_password(path: Path, *, confirm: bool = False) -> str | None:
    """``COSIGN_PASSWORD``, as cosign reads it (empty is a password); else asked on a
    terminal when the key needs one; else ``None``."""
    from .ship import is_encrypted

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


def _signing_key(path: Path) -> Any:
    """The key at ``path``, opened with :func:`_key_password`."""
    from .ship import load_signing_key

    return load_signing_key(path.absolute(), _key_password(path))


#: The registry options of ``sign`` and ``index``: where it is and how to log in.
_REGISTRY_SETTINGS = tuple(s for s in PUSH_SETTINGS if s.name != "sign-key")


@cli.command("generate-key", short_help="Write a key pair for signing, in cosign's formats.")
@click.argument("prefix", metavar="PREFIX", type=click.Path(path_type=Path), default="cosign")
@debug_option
def generate_key(prefix: Path) -> None:
    """Write PREFIX.key (ECDSA P-256, encrypted with COSIGN_PASSWORD, as cosign writes it) and
    PREFIX.pub; never overwrite them. Prints the public key's path.

    COSIGN_PASSWORD may be empty; when it is not set the password is asked on a terminal.
    Sign with `build --push --sign-key PREFIX.key` or `pybin2img sign`; verify with
    `cosign verify --key PREFIX.pub --insecure-ignore-tlog`, or skopeo/podman (README).
    """
    from .ship import generate_key_pair

    password = _key_password(prefix, confirm=True)
    if password is None:
        raise UsageError("set COSIGN_PASSWORD to the password for the new key (it may be empty)")
    private, public = generate_key_pair(prefix, password)
    click.echo(f"pybin2img: wrote {private} and {public}", err=True)
    click.echo(str(public))


@cli.command(short_help="Sign an image in a registry, as cosign does (no transparency log).")
@click.argument("reference", metavar="REFERENCE")
@click.option(
    "--key",
    "key_path",
    required=True,
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="cosign private key (password from COSIGN_PASSWORD) or PEM EC P-256 key.",
)
@click_options(_REGISTRY_SETTINGS)
@verbose_option
@quiet_option
@debug_option
def sign(
    reference: str,
    key_path: Path,
    insecure_registry: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    registry_ca: tuple[Path, ...],
    verbose: int,
    quiet: bool,
) -> None:
    """Sign REFERENCE (NAME:TAG or NAME@sha256:DIGEST) where it is pushed: the signature goes
    under the tag sha256-<hex>.sig, as cosign's does. An index is signed with each image it
    lists. Prints REFERENCE@sha256:DIGEST of what was signed.
    """
    from .ship import parse_target, sign_image

    target, digest = parse_target(reference)
    if mount_from:
        raise UsageError("--mount-from is for pushing, not for sign")
    registry = _registry(username, password_stdin, insecure_registry, registry_ca)
    key = _signing_key(key_path)
    log = Log(verbosity=-1 if quiet else verbose)
    signatures = sign_image(target, digest, key, registry=registry, log=log)
    click.echo(target.with_digest(signatures[0].digest))


@cli.command(short_help="Merge image tarballs of several platforms into one image index.")
@click.argument(
    "tarballs", metavar="IMAGE.tar...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option("-t", "--tag", "tag", required=True, metavar="NAME[:TAG]", help="Index reference.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write the index and its images as an OCI layout tarball.",
)
@click.option("--push", is_flag=True, help="Push the images by digest, then the index.")
@click.option("--extra-tag", "extra_tags", multiple=True, metavar="TAG", help="Also push as TAG.")
@click_options(PUSH_SETTINGS)
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write what was pushed as JSON.",
)
@verbose_option
@quiet_option
@debug_option
def index(
    tarballs: tuple[Path, ...],
    tag: str,
    output: Path | None,
    push: bool,
    extra_tags: tuple[str, ...],
    insecure_registry: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    registry_ca: tuple[Path, ...],
    sign_key: Path | None,
    metadata_file: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Merge IMAGE.tar files of different platforms (pybin2img's, `docker save`'s, `skopeo
    copy … oci-archive:`'s) into one OCI image index named NAME[:TAG]: written with -o as a
    tarball (skopeo, podman load) and/or pushed with --push (each image by digest, then the
    index). Prints NAME:TAG@sha256:DIGEST of the index.
    """
    from .oci import merge_index, write_index
    from .options import check_output

    target = parse_reference(tag)
    if not output and not push:
        raise UsageError("nothing to do: give -o FILE, --push, or both")
    if not push and (sign_key or extra_tags or insecure_registry or username or registry_ca):
        raise UsageError("registry options (--sign-key, --username, …) need --push")
    for extra in extra_tags:
        parse_reference(f"{target.repository}:{extra}")
    if output:
        output = output.absolute()
        check_output(output)
    log = Log(verbosity=-1 if quiet else verbose)
    registry = None
    key = None
    if push:
        from .registry import check_registry

        registry = _registry(username, password_stdin, insecure_registry, registry_ca)
        key = _signing_key(sign_key) if sign_key else None
        check_registry(target, registry, log)
    with log.stage("index") as stage, merge_index([t.absolute() for t in tarballs]) as merged:
        platforms = ", ".join(str(child.platform) for child in merged.children)
        stage.summary = f"{platforms}: {merged.descriptor.digest}"
        if output:
            size = write_index(merged, target, output)
            log.info(f"wrote {output} ({size / 1e6:.1f} MB)")
        if push:
            from .ship import push_index

            assert registry is not None
            options = _push_options(mount_from, extra_tags, metadata_file)
            push_index(merged, target, registry=registry, options=options, log=log)
            if key:
                from .ship import sign_pushed

                digests = [merged.descriptor.digest]
                digests += [child.descriptor.digest for child in merged.children]
                sign_pushed(target, digests, key, registry=registry, log=log)
    click.echo(target.with_digest(merged.descriptor.digest))


@cli.command(short_help="Check an image tarball and show what is in it.")
@click.argument("tarball", metavar="IMAGE.tar", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@debug_option
def inspect(tarball: Path, as_json: bool) -> None:
    """Check IMAGE.tar (digests, sizes, diff_ids, index and manifest.json agreeing) and show
    its config, layers, size by part and largest files. Exits 10 on any inconsistency."""
    from .oci import format_report, inspect_tarball

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
    from .resolve import closure_json, format_tree, resolve_files

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
    from .cache import Cache
    from .cachecmd import cache_info, format_info
    from .options import cache_dir

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
    from .cache import Cache
    from .cachecmd import format_prune, parse_size, prune
    from .options import cache_dir

    limit = parse_size(max_size) if max_size is not None else None
    result = prune(Cache(cache_dir(os.environ)), max_size=limit, older_than=older_than)
    click.echo(format_prune(result))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    args = _dash_values_kept(list(sys.argv[1:] if argv is None else argv))
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
