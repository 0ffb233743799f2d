"""What planning needs from the build machine, probed once: :class:`HostFacts`.

:func:`probe_host` is the one place the plan stage looks at the host's own files: the CA bundle,
the time zone data, glibc's UTF-8 locale, the ``/etc`` files the base copies, ``os-release``,
the ``OPENSSLDIR`` compiled into the closure's OpenSSL, and the static programs an image may
hold (tini as its init, glibc's ``ldconfig`` for ``ctypes.util.find_library``).
:func:`~.planner.plan_image` is then a function of its arguments, and a test hands it facts
pointing into a temporary directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..resolve import Closure, ElfFormatError, read_elf

HOST_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
)
HOST_ZONEINFO = "/usr/share/zoneinfo"
#: glibc's C.UTF-8 locale. Shipped with glibc so that ``LANG=C.UTF-8`` names a real locale:
#: Nuitka's start-up code aborts when neither LANG's locale nor C.UTF-8 can be loaded.
HOST_UTF8_LOCALES = ("/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8")
#: Where the host's ncurses looks for terminal descriptions (Debian's libtinfo: ``/etc``,
#: ``/lib``, then ``/usr/share``; Debian 12 has them in ``/lib/terminfo``, 13 in
#: ``/usr/share/terminfo``).
HOST_TERMINFO = ("/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo")
#: Files the base copies from the host's ``/etc`` when it has them: the name-service files
#: (netbase's), and the media types (media-types') that ``mimetypes`` reads as the interpreter
#: does there: without them ``guess_type("font.woff2")`` is ``None``, and web frameworks serve
#: such files without their type.
HOST_ETC_FILES = ("services", "protocols", "mime.types")
HOST_OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
#: tini, the image's init: the dynamically linked build first (Debian's and Ubuntu's ``tini``
#: package, 30 KB: it needs only the libc every glibc image holds anyway; sid ships no other),
#: then the statically linked one (0.7 MB: Debian 12's and Ubuntu's ``tini``, Alpine's
#: ``tini-static``), for a machine whose dynamic tini does not use the app's loader.
HOST_TINI = ("/usr/bin/tini", "/sbin/tini")
HOST_TINI_STATIC = ("/usr/bin/tini-static", "/sbin/tini-static")
#: glibc's ``ldconfig``, at the path ``ctypes.util.find_library`` runs (static on Debian,
#: Ubuntu, Fedora).
HOST_LDCONFIG = "/sbin/ldconfig"
_OPENSSLDIR = re.compile(rb'OPENSSLDIR: "([^"\x00]*)"')


@dataclass(frozen=True, kw_only=True)
class HostFacts:
    """The build machine's files that planning uses, as :func:`probe_host` found them.

    Paths are host paths: the planner copies their bytes (and the writer reads them), so the
    image records where each file came from, and the dpkg lookup finds the package owning it.
    """

    #: The host's CA bundle, or ``None`` when it has none.
    ca_bundle: str | None = None
    #: The host's zoneinfo directory, or ``None`` when it has none.
    zoneinfo: str | None = None
    #: glibc's C.UTF-8 locale directory (symlinks resolved), or ``None``.
    utf8_locale: str | None = None
    #: ``(image path, host path)`` of the ``/etc`` files the base copies
    #: (``etc/services``, ``etc/protocols``) that the host has.
    etc_files: tuple[tuple[str, str], ...] = ()
    #: The host's ``os-release`` text; empty when it has none.
    os_release: str = ""
    #: The ``OPENSSLDIR`` compiled into the closure's OpenSSL (``/usr/lib/ssl``), or ``None``.
    openssl_dir: str | None = None
    #: The host's tini (:func:`find_tini`), or ``None`` when it has none.
    tini: str | None = None
    #: The host's :data:`HOST_LDCONFIG` when it is a static program, else ``None``.
    ldconfig: str | None = None
    #: The files and symlinks in the host's :data:`HOST_TERMINFO` directories, sorted.
    terminfo: tuple[str, ...] = ()


def probe_host(closure: Closure, *, tini: str | None = None) -> HostFacts:
    """Look at the build machine once, for planning the image of ``closure``; ``tini`` is
    what :func:`find_tini` found (its closure, when it is dynamic, is part of ``closure``)."""
    locale = next((d for d in HOST_UTF8_LOCALES if os.path.isdir(d)), None)
    return HostFacts(
        ca_bundle=next((b for b in HOST_CA_BUNDLES if os.path.isfile(b)), None),
        zoneinfo=HOST_ZONEINFO if os.path.isdir(HOST_ZONEINFO) else None,
        utf8_locale=os.path.realpath(locale) if locale is not None else None,
        etc_files=tuple(
            (f"etc/{name}", host)
            for name in HOST_ETC_FILES
            if os.path.isfile(host := os.path.join("/etc", name))
        ),
        os_release=_read_first(HOST_OS_RELEASE),
        openssl_dir=find_openssl_dir([obj.source for obj in closure.objects]),
        tini=tini,
        ldconfig=HOST_LDCONFIG if is_static_program(HOST_LDCONFIG) else None,
        terminfo=_terminfo_files(),
    )


def _terminfo_files() -> tuple[str, ...]:
    """The terminal descriptions in :data:`HOST_TERMINFO` (``/lib/terminfo/x/xterm``…), by the
    paths ncurses opens; a directory reached twice through a symlink is listed once."""
    found: list[str] = []
    seen: set[str] = set()
    for top in HOST_TERMINFO:
        real = os.path.realpath(top)
        if real in seen or not os.path.isdir(real):
            continue
        seen.add(real)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            found += (os.path.join(dirpath, name) for name in sorted(filenames))
    return tuple(found)


def find_tini(
    interpreter: str | None,
    dynamic: Sequence[str] = HOST_TINI,
    static: Sequence[str] = HOST_TINI_STATIC,
) -> str | None:
    """The build machine's tini for an app whose loader is ``interpreter``: a dynamic tini
    that uses the same loader (its libraries are resolved with the app's), else a static one,
    else ``None``."""
    for path in dynamic:
        try:
            facts = read_elf(path)
        except (ElfFormatError, OSError):
            continue
        if facts.interpreter is not None and facts.interpreter == interpreter:
            return path if os.access(path, os.X_OK) else None
    return next((t for t in (*dynamic, *static) if is_static_program(t)), None)


def is_static_program(path: str) -> bool:
    """Whether ``path`` is an ELF program that needs no loader and no library (static or
    static-pie), so that it runs in any image of its machine."""
    try:
        facts = read_elf(path)
    except (ElfFormatError, OSError):
        return False
    return facts.interpreter is None and not facts.needed and os.access(path, os.X_OK)


def find_openssl_dir(paths: Sequence[str]) -> str | None:
    """The ``OPENSSLDIR`` compiled into the first OpenSSL found among ``paths``."""
    for path in paths:
        name = os.path.basename(path)
        if not (name.startswith(("libcrypto", "_ssl", "_hashlib"))):
            continue
        try:
            with open(path, "rb") as f:
                match = _OPENSSLDIR.search(f.read())
        except OSError:
            continue
        if match:
            return match.group(1).decode(errors="replace")
    return None


def _read_first(candidates: Sequence[str]) -> str:
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8") as f:
                return f.read()
        except OSError:
            continue
    return ""
