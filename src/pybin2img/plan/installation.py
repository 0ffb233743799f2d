"""The build interpreter's installation, as the SBOM needs it: where CPython's own files are,
and every installed distribution with its metadata and its files (from its ``RECORD``).

:func:`read_installation` asks the build interpreter once (a separate process: it may be
another Python than the one running pybin2img). The files let :mod:`.owners` tell which
distribution a file of the dist was copied from (an extension module, a data file, a library
an auditwheel-repaired wheel bundles in ``<name>.libs/``), and check it against the hash the
``RECORD`` holds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CompileError

_NOT_A_LICENSE = frozenset({"", "unknown", "none", "n/a", "other/proprietary license"})

# Runs under the build interpreter: its layout, and the metadata and files of its installed
# distributions, the first one on sys.path winning for each name (the one ``import`` and so
# Nuitka found).
_PROBE = r"""
import base64, binascii, json, os, re, sys, sysconfig
from importlib.metadata import distributions
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
real = os.path.realpath
paths = sysconfig.get_paths()
libdir = sysconfig.get_config_var("LIBDIR") or ""
libpython = {
    real(os.path.join(libdir, name))
    for name in (sysconfig.get_config_var("INSTSONAME"), sysconfig.get_config_var("LDLIBRARY"))
    if name and ".so" in name and os.path.isfile(os.path.join(libdir, name))
}
base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
out = {
    "prefix": real(sys.prefix),
    "base_prefix": real(sys.base_prefix),
    "stdlib": sorted({real(paths[k]) for k in ("stdlib", "platstdlib") if paths.get(k)}),
    "site_packages": sorted(
        {real(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
        | {real(p[k]) for p in (paths, base) for k in ("purelib", "platlib") if p.get(k)}
    ),
    "libpython": sorted(libpython),
    "distributions": {},
}
def editable_files(dist):
    # An editable install's RECORD lists only its hook: its packages' files are where the
    # hook makes the interpreter find them (the project).
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        if not direct.get("dir_info", {}).get("editable"):
            return []
    except (ValueError, AttributeError):
        return []
    tops = (dist.read_text("top_level.txt") or "").split()
    for item in dist.files or ():
        if str(item).endswith(".py") and os.path.basename(str(item)).startswith("_editable_impl_"):
            # The editables library's hook (hatchling's exact mode) names each package it maps.
            try:
                text = item.read_text() or ""
            except (OSError, UnicodeDecodeError):
                text = ""
            mapped = re.findall(r"map_module\(\s*['\"]([\w.]+)['\"]", text)
            tops += [m.split(".")[0] for m in mapped]
        if str(item).endswith(".pth"):
            try:
                lines = (item.read_text() or "").splitlines()
            except (OSError, UnicodeDecodeError):
                lines = []
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import")) and os.path.isdir(line):
                    tops += [n for n in sorted(os.listdir(line))
                             if os.path.isfile(os.path.join(line, n, "__init__.py"))]
    import importlib.util
    found = []
    for top in sorted(set(tops)):
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        where = [str(p) for p in ((spec.submodule_search_locations or []) if spec else [])]
        # A namespace's locations hold setuptools' path-hook entry besides its directories,
        # and may hold other distributions' parts, installed in site-packages: not the project.
        installed = ("site-packages", "dist-packages")
        for root in (p for p in where if os.path.isdir(p)):
            if any(part in installed for part in root.split(os.sep)):
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
                for name in filenames:
                    full = os.path.join(dirpath, name)
                    rel = os.path.join(top, os.path.relpath(full, root))
                    found.append([real(full), os.path.normpath(rel), None])
    return found
for dist in distributions():
    meta = dist.metadata
    name = meta.get("Name")
    if not name or norm(name) in out["distributions"]:
        continue
    files = []
    # Resolved once per distribution: the files below it are rarely links themselves.
    base = real(str(dist.locate_file("")))
    for item in dist.files or ():
        digest = None
        if item.hash is not None and item.hash.mode == "sha256":
            try:
                raw = base64.urlsafe_b64decode(item.hash.value + "=" * (-len(item.hash.value) % 4))
                digest = binascii.hexlify(raw).decode()
            except (ValueError, binascii.Error):
                digest = None
        files.append([os.path.normpath(os.path.join(base, str(item))), str(item), digest])
    files += editable_files(dist)
    out["distributions"][norm(name)] = {
        "name": name,
        "version": dist.version,
        "license_expression": meta.get("License-Expression"),
        "license": meta.get("License"),
        "classifiers": [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")],
        "summary": meta.get("Summary"),
        "home_page": meta.get("Home-page"),
        "project_urls": meta.get_all("Project-URL") or [],
        "files": files,
    }
print(json.dumps(out))
"""


@dataclass(frozen=True, kw_only=True)
class PythonDistribution:
    """An installed Python distribution (compiled into the binary, or owning files of it)."""

    name: str
    version: str
    #: SPDX ids or expressions, or license names where the metadata has no SPDX form.
    licenses: tuple[str, ...] = ()
    summary: str | None = None
    #: The project's home page, from ``Home-page`` or a ``Homepage``/``Source`` Project-URL.
    homepage: str | None = None

    @property
    def key(self) -> str:
        """The name as PEP 503 normalizes it (``psycopg2-binary``): the purl's name."""
        return normalize(self.name)


@dataclass(frozen=True, kw_only=True)
class RecordedFile:
    """One file a distribution's ``RECORD`` lists."""

    #: The distribution's normalized name.
    distribution: str
    #: The path as ``RECORD`` writes it (relative to site-packages).
    record_path: str
    #: The sha256 ``RECORD`` holds (hex); ``None`` for files recorded without one.
    sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class PythonInstallation:
    """The build interpreter's installation (every path a real path)."""

    #: ``sys.prefix`` and ``sys.base_prefix``: what Nuitka's report calls ``${sys.prefix}``
    #: and ``${sys.real_prefix}``.
    prefix: str = ""
    base_prefix: str = ""
    #: The standard library's directories (``lib/python3.11``; ``lib-dynload`` is inside).
    stdlib: tuple[str, ...] = ()
    #: Where distributions are installed: not CPython's, even inside ``stdlib``.
    site_packages: tuple[str, ...] = ()
    #: CPython's shared library (``libpython3.11.so.1.0``), when it has one.
    libpython: tuple[str, ...] = ()
    distributions: tuple[PythonDistribution, ...] = ()
    #: Real path -> the distribution whose ``RECORD`` lists it.
    files: Mapping[str, RecordedFile] = field(default_factory=dict)

    @property
    def prefixes(self) -> dict[str, str]:
        """Nuitka's report placeholders for this installation."""
        return {"${sys.prefix}": self.prefix, "${sys.real_prefix}": self.base_prefix}

    def cpython_path(self, path: str) -> str | None:
        """``path`` relative to the installation when it is CPython's own file (the standard
        library, its extension modules, libpython), else ``None``."""
        if any(_inside(path, d) for d in self.site_packages):
            return None
        for directory in (*self.stdlib, *self.libpython):
            if not _inside(path, directory):
                continue
            for prefix in (self.base_prefix, self.prefix):
                if _inside(path, prefix) and path != prefix:
                    return path[len(prefix.rstrip("/")) + 1 :]
            return os.path.relpath(path, os.path.dirname(directory))
        return None

    def distribution(self, key: str) -> PythonDistribution | None:
        return next((d for d in self.distributions if d.key == key), None)


def normalize(name: str) -> str:
    """PEP 503: lower case, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_installation(python: Path) -> PythonInstallation:
    """Ask ``python`` for its layout and its installed distributions."""
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"cannot read distribution metadata with {python}: {exc}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CompileError(f"reading distribution metadata with {python} failed: {last}")
    found = json.loads(proc.stdout)
    distributions = found["distributions"]
    files: dict[str, RecordedFile] = {}
    for key in sorted(distributions):
        for real, record_path, digest in distributions[key]["files"]:
            files.setdefault(
                real, RecordedFile(distribution=key, record_path=record_path, sha256=digest)
            )
    return PythonInstallation(
        prefix=found["prefix"],
        base_prefix=found["base_prefix"],
        stdlib=tuple(found["stdlib"]),
        site_packages=tuple(found["site_packages"]),
        libpython=tuple(found["libpython"]),
        distributions=tuple(metadata(distributions[key]) for key in sorted(distributions)),
        files=files,
    )


def select(
    installation: PythonInstallation, names: Iterable[str] | None
) -> tuple[PythonDistribution, ...]:
    """The distributions called ``names`` (as pip matches names), sorted by normalized name;
    every one when ``names`` is ``None``."""
    if names is None:
        return installation.distributions
    wanted = {normalize(n) for n in names}
    return tuple(d for d in installation.distributions if d.key in wanted)


def metadata(meta: Mapping[str, object]) -> PythonDistribution:
    """A :class:`PythonDistribution` from the probe's metadata of one distribution."""

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def texts(key: str) -> list[str]:
        value = meta.get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    return PythonDistribution(
        name=text("name") or "",
        version=text("version") or "",
        licenses=_declared_licenses(
            text("license_expression"), text("license"), texts("classifiers")
        ),
        summary=text("summary"),
        homepage=_homepage(text("home_page"), texts("project_urls")),
    )


def _declared_licenses(
    expression: str | None, field: str | None, classifiers: Sequence[str]
) -> tuple[str, ...]:
    # PEP 639's License-Expression is SPDX by definition; the older License field is often a
    # whole license text, which names nothing: then the trove classifiers are the best hint.
    if expression:
        return (expression,)
    if field and "\n" not in field and len(field) <= 100 and field.lower() not in _NOT_A_LICENSE:
        return (field,)
    names = {c.split("::")[-1].strip() for c in classifiers}
    return tuple(sorted(n for n in names if n.lower() not in _NOT_A_LICENSE | {"osi approved"}))


def _homepage(home_page: str | None, project_urls: Sequence[str]) -> str | None:
    if home_page and home_page.upper() != "UNKNOWN":
        return home_page
    urls: dict[str, str] = {}
    for entry in project_urls:
        label, _, url = entry.partition(",")
        urls.setdefault(label.strip().lower().replace("-", "").replace("_", ""), url.strip())
    return next((urls[k] for k in ("homepage", "home", "source", "repository") if k in urls), None)


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")
