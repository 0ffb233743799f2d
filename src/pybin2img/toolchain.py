"""The programs that make the binary: Nuitka, the C compiler, patchelf and binutils' strip.

They are inputs of the build like the app's sources: another gcc or patchelf makes other bytes.
:func:`program_versions` is part of the compile cache key (a dist is reused only with the same
toolchain); :func:`probe_toolchain` describes it for the image's labels and annotations
(:meth:`Toolchain.labels`) and the SBOM's tools, each program with the Debian package it
comes from when dpkg knows it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from ._version import __version__
from .dpkg import system_packages

#: The programs after Nuitka: the C compiler Nuitka runs (``$CC``, else gcc), patchelf (Nuitka
#: sets the RUNPATH of every library it copies) and binutils' strip (pybin2img strips them).
PROGRAMS = ("cc", "patchelf", "strip")
#: The prefix of the image's labels and annotations that name the toolchain.
LABEL_PREFIX = "dev.pybin2img.toolchain."
_VERSION = re.compile(r"\d+(?:\.\d+)+")


@dataclass(frozen=True, kw_only=True)
class Tool:
    """One program of the toolchain."""

    #: ``nuitka``, ``gcc`` (the compiler's own name), ``patchelf``, ``strip``.
    name: str
    #: The version number (``12.2.0``); ``None`` when the program cannot tell.
    version: str | None = None
    #: The first line of its ``--version`` (``gcc (Debian 12.2.0-14+deb12u1) 12.2.0``).
    description: str | None = None
    #: Its real path on the build machine.
    path: str | None = None
    #: The package URL of what it was installed from (``pkg:deb/debian/gcc-12@…``,
    #: ``pkg:pypi/nuitka@4.3.5``), when known.
    purl: str | None = None


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    """What compiled the app, as recorded in the image and its SBOM."""

    python: str
    nuitka: Tool
    #: The C compiler, patchelf and strip; ``None`` for one that was not found.
    compiler: Tool | None = None
    patchelf: Tool | None = None
    strip: Tool | None = None

    @property
    def programs(self) -> tuple[Tool, ...]:
        """The C compiler, patchelf and strip, those found."""
        return tuple(t for t in (self.compiler, self.patchelf, self.strip) if t is not None)

    def labels(self) -> dict[str, str]:
        """``dev.pybin2img.toolchain.<pybin2img|python|nuitka|cc|patchelf|strip>``: the
        versions of pybin2img, Python and Nuitka, and each program's ``--version`` line; for the
        image's labels and annotations."""
        keys = {f"{LABEL_PREFIX}pybin2img": __version__, f"{LABEL_PREFIX}python": self.python}
        for role, tool in (
            ("nuitka", self.nuitka),
            ("cc", self.compiler),
            ("patchelf", self.patchelf),
            ("strip", self.strip),
        ):
            if tool is not None and (tool.description or tool.version):
                keys[f"{LABEL_PREFIX}{role}"] = tool.description or tool.version or ""
        return keys


def compiler_program() -> str:
    """The C compiler Nuitka runs: ``$CC`` when set (Nuitka honours it), else gcc."""
    return os.environ.get("CC") or "gcc"


def program_versions() -> tuple[tuple[str, str | None], ...]:
    """``(program, first line of --version)`` of the C compiler, patchelf and strip: what the
    compile cache key holds of the toolchain (``None`` for a program that is missing)."""
    return tuple((name, _version_line(_program(name))) for name in PROGRAMS)


def probe_toolchain(python_version: str, nuitka_version: str) -> Toolchain:
    """The build's toolchain: versions, real paths and, from the dpkg database, the Debian
    packages the programs belong to."""
    found: list[tuple[str, str, str | None]] = []
    for name in PROGRAMS:
        path = shutil.which(_program(name))
        if path is not None:
            found.append((name, os.path.realpath(path), _version_line(_program(name))))
    owners = system_packages([path for _, path, _ in found])
    purls: dict[str, str] = {}
    distro = owners.distro
    for package in owners.packages:
        for path in package.files:
            purls[path] = _deb_purl(
                package.name,
                package.version,
                package.architecture,
                distro.id if distro else "debian",
                distro.purl_distro if distro else None,
            )
    tools: dict[str, Tool] = {}
    for name, path, line in found:
        tools[name] = Tool(
            name=_tool_name(name, path, (line or "").split()),
            version=(_VERSION.findall(line or "") or [None])[-1],
            description=line,
            path=path,
            purl=purls.get(path),
        )
    return Toolchain(
        python=python_version,
        nuitka=Tool(
            name="nuitka",
            version=nuitka_version,
            purl=f"pkg:pypi/nuitka@{nuitka_version}",
        ),
        compiler=tools.get("cc"),
        patchelf=tools.get("patchelf"),
        strip=tools.get("strip"),
    )


def _program(name: str) -> str:
    return compiler_program() if name == "cc" else name


def _tool_name(role: str, path: str, words: list[str]) -> str:
    if role != "cc":
        return role
    # "gcc (Debian 12.2.0-14) 12.2.0", "Debian clang version 14.0.6", "cc (GCC) 12.2.0"
    said = " ".join([*words, os.path.basename(path)]).lower()
    return next((known for known in ("clang", "gcc") if known in said), os.path.basename(path))


@functools.cache
def _version_line(program: str) -> str | None:
    """The first line of ``program --version``, or ``None`` when it cannot be run."""
    path = shutil.which(program)
    if path is None:
        return None
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def _deb_purl(name: str, version: str, arch: str, namespace: str, distro: str | None) -> str:
    from packageurl import PackageURL

    qualifiers = {"arch": arch, **({"distro": distro} if distro else {})}
    return str(PackageURL("deb", namespace, name, version, qualifiers).to_string())
