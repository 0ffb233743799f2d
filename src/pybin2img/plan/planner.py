"""Plan stage: dist + closure + base choice + host facts -> the image's layers and run-time
settings.

A function of its arguments: what it needs from the build machine comes in as
:class:`~.host.HostFacts`; it reads only the dist and the metadata of the files it places
(symlinks, modes), and writes nothing. Layers are ordered by how rarely they change:

1. ``base``: users, /tmp, name-service files, certificates, time zones;
2. ``system-libraries``: the loader, glibc and every library copied from the build machine,
   and the static programs copied with them (tini as the init, glibc's ``ldconfig``);
3. ``dependencies``: the dist's extension modules, bundled libraries and package data;
4. ``app``: the compiled binary (and the app's own data files).

so that an app-only change produces a new top layer and identical lower ones. The dpkg records
and the SBOM are added afterwards (:func:`~.packages.add_records`), once the packages owning
the copied files are known.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ..dpkg import SystemPackages
from ..errors import HostError
from ..oci import BaseImage, Entry, Kind, Layer
from ..resolve import Closure, Directory, Node, RegularFile, Symlink, TreeView, dist_files
from .host import (
    HOST_CA_BUNDLES,
    HOST_LDCONFIG,
    HOST_TINI,
    HOST_TINI_STATIC,
    HOST_ZONEINFO,
    HostFacts,
)
from .rootfs import RootfsBuilder
from .scratch import CA_BUNDLE, BaseSpec, add_base

APP_DIR = "/app"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The layer of the files copied from the build machine, where their dpkg records go too.
SYSTEM_LAYER = "system-libraries"
SYSTEM_LAYER_DESCRIPTION = "system libraries copied from the build machine"


@dataclass(frozen=True, kw_only=True)
class ImagePlan:
    """The planned image: layers plus what the config needs to know about them."""

    layers: tuple[Layer, ...]
    #: Every path the container will see, the upper layer's entry winning.
    nodes: Mapping[str, Entry]
    #: The entry binary's path in the image.
    binary: str
    #: The image's entrypoint: the binary, behind the init when there is one.
    entrypoint: tuple[str, ...] = ()
    #: Image paths of the ELF roots (binary first), for re-resolving inside the image.
    roots: tuple[str, ...]
    #: Env entries the layers call for: ``SSL_CERT_FILE`` when certificates are shipped,
    #: ``LANG=C.UTF-8`` when that locale is.
    env: tuple[str, ...]
    #: The build machine's files the image holds copies of (neither the dist's nor the base
    #: image's), sorted: what the package database is asked about, with the files the dist's
    #: copies were made from (:func:`~.owners.claim_files`).
    host_files: tuple[str, ...] = ()
    #: Image paths (``/app/…``) of the app's own files: the binary and its data files.
    app_files: tuple[str, ...] = ()
    #: The build machine's packages whose files the image holds, once
    #: :func:`~.packages.add_records` recorded them.
    packages: SystemPackages | None = None
    #: Directories ``/etc/ld.so.cache`` is to list (where the system libraries are, as the
    #: loader spells them), once :func:`~.ldsocache.add_ld_so_cache` writes it; empty: no cache.
    library_dirs: tuple[str, ...] = ()
    #: What the build should tell the user about the plan (a part left out, and why).
    warnings: tuple[str, ...] = ()


#: Files a package ships for building or testing against it, never used at run time.
BUILD_ONLY_SUFFIXES = frozenset(
    {".h", ".hpp", ".a", ".la", ".o", ".c", ".cpp", ".pxd", ".pxi", ".pyx", ".pyi"}
)
TEST_DIRECTORIES = frozenset({"tests", "test", "testing"})


def build_only(rel: Path) -> bool:
    """Whether a third-party dist file is for building or testing only: headers, static
    libraries, Cython sources, type stubs, and the data of test suites (never their extension
    modules, which the package may import)."""
    if rel.suffix in BUILD_ONLY_SUFFIXES:
        return True
    return bool(TEST_DIRECTORIES & set(rel.parts[:-1])) and ".so" not in rel.name


def plan_image(  # noqa: PLR0915 (the layout, one kind of file after another)
    *,
    base: str,
    dist_dir: Path,
    roots: Sequence[Path],
    closure: Closure,
    host: HostFacts,
    modules: frozenset[str] = frozenset(),
    app_paths: Sequence[str] = (),
    ca_certs: str = "auto",
    tzdata: str = "auto",
    init: str = "none",
    ldconfig: str = "never",
    base_image: BaseImage | None = None,
    traced_files: Sequence[str] = (),
    extra_files: Sequence[tuple[str, str]] = (),
    library_path: Sequence[str] = (),
) -> ImagePlan:
    """Lay out the image.

    ``roots`` are the host paths of the dist's ELF files, the entry binary first (what the
    closure was resolved from). ``modules`` are the Python modules compiled in: ``ssl`` calls for
    the CA bundle and ``zoneinfo`` for time zones (which ``auto`` ships anyway where the host has
    them: any program reads the zone ``TZ`` names) when ``ca_certs``/``tzdata`` are ``auto``
    (``always``/``never`` force them), and ``curses`` for the host's terminal descriptions;
    ``host`` says where the build machine has them.
    ``app_paths`` are dist-relative files or directories that belong to the app itself (layer 4
    with the binary); every other dist file goes to layer 3. With ``base_image``, its tree lies
    below: pybin2img's base files are added only where it has none.

    ``init``: ``tini`` puts the host's tini (``host.tini``: a dynamic one is in ``closure``
    too, as an extra object) in front of the binary as PID 1, ``none``
    runs the binary itself. ``ldconfig``: ``auto`` ships the host's static ``ldconfig`` (and
    asks for an ``/etc/ld.so.cache``) when the app compiled in ``ctypes.util``, so that
    ``find_library`` works; ``always``/``never`` force it.

    ``traced_files`` are host files the traced run read (``--trace``): placed at the same path
    in the system layer where nothing else is (the base's generated files and a base image's
    own win). ``extra_files`` are ``(host path, image path)`` of ``--add-file``: placed there
    whatever was there before. ``library_path`` (``--library-path``): those of its directories
    the closure took a library from are the image's ``LD_LIBRARY_PATH``.
    """
    dist = str(dist_dir)
    system = [obj for obj in closure.objects if not _inside(obj.source, dist)]

    uses_ssl = "ssl" in modules or host.openssl_dir is not None
    wants_certs = ca_certs == "always" or (
        ca_certs == "auto" and (base == "distroless" or uses_ssl)
    )
    if wants_certs and host.ca_bundle is None:
        raise HostError(
            "the image needs CA certificates but no CA bundle was found on this machine "
            f"({', '.join(HOST_CA_BUNDLES)}); install ca-certificates or pass --ca-certs never"
        )
    # Every program reads the zone TZ names at its start (glibc's tzset, from time's import),
    # so a TZ the image is run with (docker run -e TZ=Europe/Paris) needs the zone files even
    # where the app never imports zoneinfo: without them local time is UTC, named "Europe".
    needs_tz = tzdata == "always" or (
        tzdata == "auto" and (base == "distroless" or "zoneinfo" in modules)
    )
    wants_tz = needs_tz or (tzdata == "auto" and host.zoneinfo is not None)
    if needs_tz and host.zoneinfo is None:
        raise HostError(
            f"the image needs time zone data but {HOST_ZONEINFO} does not exist on this "
            "machine; install tzdata or pass --tzdata never"
        )

    if init == "tini" and host.tini is None:
        raise HostError(
            "the image's init, tini, is not installed on this machine "
            f"({', '.join((*HOST_TINI, *HOST_TINI_STATIC))}); "
            "install it (Debian: apt-get install tini) or pass --init none"
        )
    warnings: list[str] = []
    if tzdata == "auto" and not wants_tz:
        warnings.append(
            f"this machine has no {HOST_ZONEINFO}: a TZ the image is run with is ignored there "
            "(local time is UTC); install tzdata, or pass --tzdata never to say so"
        )
    wants_ldconfig = closure.libc == "glibc" and (
        ldconfig == "always" or (ldconfig == "auto" and "ctypes.util" in modules)
    )
    if wants_ldconfig and host.ldconfig is None:
        if ldconfig == "always":
            raise HostError(
                f"--ldconfig always: {HOST_LDCONFIG} on this machine is missing or not a static "
                "program, so it cannot run in the image; pass --ldconfig never"
            )
        warnings.append(
            f"the app uses ctypes.util, but {HOST_LDCONFIG} on this machine is missing or not a "
            "static program: ctypes.util.find_library will find nothing in the image"
        )
        wants_ldconfig = False

    builder = RootfsBuilder()
    if base_image is not None:
        builder.seed(_base_entries(base_image))
    builder.layer("base", f"base files ({base_image.name if base_image else base})")
    with builder.missing_only(base_image is not None):
        add_base(
            builder,
            BaseSpec(
                name="scratch" if base_image else base,
                ca_bundle=host.ca_bundle if wants_certs else None,
                openssl_dir=host.openssl_dir,
                zoneinfo=host.zoneinfo if wants_tz else None,
                etc_files=host.etc_files,
                os_release=host.os_release,
            ),
        )

    app_dir = APP_DIR.lstrip("/")
    binary_rel = roots[0].relative_to(dist_dir)
    binary = f"{APP_DIR}/{binary_rel.as_posix()}"
    entrypoint: tuple[str, ...] = (binary,)

    builder.layer(SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION)
    for obj in system:
        builder.add_host_path(obj.path)
    with builder.missing_only():
        if init == "tini":
            assert host.tini is not None
            builder.add_host_path(host.tini)
            # -s: reap orphans as a child subreaper even when not PID 1 (a pod sharing its
            # process namespace), instead of warning on every start.
            entrypoint = ("/" + host.tini.lstrip("/"), "-s", "--", binary)
        if wants_ldconfig:
            assert host.ldconfig is not None
            builder.add_host_path(host.ldconfig)
        for path in traced_files:
            builder.add_host_path(path)
        if "curses" in modules or "_curses" in modules:
            # Without them curses.setupterm() fails: "could not find terminfo database".
            for path in host.terminfo:
                builder.add_host_path(path)
    for source, dest in extra_files:
        if os.path.isdir(source):
            builder.add_tree(source, dest.strip("/"))
        elif source == dest:
            builder.add_host_path(source)
        else:
            builder.add_file(dest.strip("/"), os.path.realpath(source))
    env = [f"SSL_CERT_FILE={CA_BUNDLE}"] if wants_certs else []
    if closure.libc == "glibc" and host.utf8_locale is not None:
        builder.add_tree(host.utf8_locale, host.utf8_locale.lstrip("/"))
        env.append("LANG=C.UTF-8")

    # --library-path: its directories that hold a library of the image are searched there too.
    dirs = {os.path.dirname(o.path) for o in system}
    if searched := [d for d in library_path if d.rstrip("/") in dirs]:
        env.append(f"LD_LIBRARY_PATH={':'.join(searched)}")

    own = (binary_rel.as_posix(), *(p.strip("/") for p in app_paths))
    files = dist_files(dist_dir)
    mine = [rel for rel in files if any(_inside(rel.as_posix(), p) for p in own)]
    builder.layer("dependencies", "extension modules, bundled libraries and package data")
    for rel in files:
        if rel not in mine and not build_only(rel):
            _add_dist_file(builder, dist_dir, rel, app_dir)
    builder.layer("app", "the compiled application and its own data")
    for rel in mine:
        _add_dist_file(builder, dist_dir, rel, app_dir)

    return ImagePlan(
        layers=builder.finish(),
        nodes=MappingProxyType(dict(builder.nodes)),
        binary=binary,
        entrypoint=entrypoint,
        roots=tuple(f"{APP_DIR}/{root.relative_to(dist_dir).as_posix()}" for root in roots),
        env=tuple(env),
        host_files=_host_files(builder.nodes, dist, base_image),
        app_files=tuple(f"{APP_DIR}/{rel.as_posix()}" for rel in mine),
        library_dirs=(
            tuple(sorted({os.path.dirname(o.path) for o in system if o.path != host.tini}))
            if wants_ldconfig
            else ()
        ),
        warnings=tuple(warnings),
    )


def searched_library_path(env: Sequence[str]) -> tuple[str, ...]:
    """The directories of an image's ``LD_LIBRARY_PATH`` (``env``: its ``KEY=VALUE`` pairs)."""
    for item in reversed(env):
        key, _, value = item.partition("=")
        if key == "LD_LIBRARY_PATH":
            return tuple(d for d in value.split(":") if d)
    return ()


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _add_dist_file(builder: RootfsBuilder, dist_dir: Path, rel: Path, app_dir: str) -> None:
    host = dist_dir / rel
    image = f"{app_dir}/{rel.as_posix()}"
    if host.is_symlink():
        target = os.readlink(host)
        resolved = (host.parent / target).resolve()
        if not target.startswith("/") and _inside(str(resolved), str(dist_dir.resolve())):
            builder.add_symlink(image, target)
            return
        builder.add_file(image, str(resolved))
        return
    builder.add_file(image, str(host))


def _host_files(
    nodes: Mapping[str, Entry], dist: str, base_image: BaseImage | None
) -> tuple[str, ...]:
    """The host files the image copies that are neither the dist's nor the base image's."""
    base_root = str(base_image.rootfs) if base_image else None
    return tuple(
        sorted(
            {
                e.source
                for e in nodes.values()
                if e.kind is Kind.FILE
                and e.source
                and not _inside(e.source, dist)
                and not (base_root and _inside(e.source, base_root))
            }
        )
    )


def _base_entries(base_image: BaseImage) -> Iterator[Entry]:
    """The base image's tree as entries: never written again, only built upon."""
    for path, item in base_image.tree.items():
        kind = {"dir": Kind.DIR, "symlink": Kind.SYMLINK}.get(item.kind, Kind.FILE)
        yield Entry(
            path=path,
            kind=kind,
            mode=item.mode,
            uid=item.uid,
            gid=item.gid,
            source=str(base_image.rootfs / path) if kind is Kind.FILE else None,
            target=item.target or None,
        )


def staged_view(nodes: Mapping[str, Entry]) -> TreeView:
    """The planned image as the loader inside it will see it.

    Generated files (passwd, nsswitch.conf, …) have no host bytes and are never libraries, so
    they are left out.
    """
    tree: dict[str, Node] = {}
    for path, entry in nodes.items():
        if entry.kind is Kind.DIR:
            tree[path] = Directory()
        elif entry.kind is Kind.SYMLINK:
            assert entry.target is not None
            tree[path] = Symlink(target=entry.target)
        elif entry.source is not None:
            tree[path] = RegularFile(source=entry.source)
    return TreeView(tree)
