"""Files the dist gets besides what Nuitka put in it: ``--include-data`` as it is (``.py``
files too), the data files of every package compiled in, and the packages shipped as their
own files (``--as-files``).

Nuitka's ``--include-data-dir`` leaves code files out, so an alembic ``migrations/`` folder
arrived without its ``env.py``; and Nuitka ships a package's data only where its package
configuration names them (certifi's ``cacert.pem``, matplotlib's ``mpl-data``), so wordcloud
failed at import without its ``stopwords``. Each installed distribution lists the files it
installed in its RECORD: those next to a compiled-in package's code are its data. An editable
install's RECORD lists only the hook that makes the project's packages importable (a ``.pth``
path, setuptools' finder with its ``MAPPING``, or the editables library's ``map_module()``
calls): its packages' files are read from there, and
recorded among the dist's sources (each data file, and each package directory's file names).
A distribution installed without a RECORD (Debian's python3-* packages) has its top-level
packages' directories read instead (its ``top_level.txt``).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from ..cache import file_digest, listing_digest
from ..errors import CompileError
from ..options import BuildOptions
from .bytecode import around_triggers, nuitka_triggers, site_dirs

#: Code, or files for building and testing against a package: never package data. ELF files
#: (extension modules, libraries, programs) are Nuitka's to copy, with their libraries.
_CODE_SUFFIXES = frozenset(
    {".py", ".pyc", ".pyo", ".pyi", ".pyx", ".pxd", ".pxi", ".so", ".pyd", ".dll", ".dylib"}
)
_BUILD_SUFFIXES = frozenset({".h", ".hpp", ".hh", ".c", ".cc", ".cpp", ".a", ".la", ".o", ".lib"})
#: Directories of a package that are not needed to run it: its tests, documentation, headers.
_SKIP_DIRECTORIES = frozenset(
    {"__pycache__", "tests", "test", "testing", "doc", "docs", "include", "headers", "sample_data"}
)
_SKIP_NAMES = frozenset({"py.typed"})
_ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True, kw_only=True)
class PackageData:
    """The data files of one package, as shipped in the dist."""

    #: The import name of the package the files belong to (``wordcloud``).
    package: str
    #: The distribution that installed them (``wordcloud``).
    distribution: str
    #: Dist-relative paths of the files pybin2img added.
    files: tuple[str, ...]
    #: Their total size in bytes.
    size: int
    #: For an editable install: its data files and package directories outside the build
    #: environment, with their hashes (file bytes, directory listing), for the dist's cache.
    sources: dict[str, str] = field(default_factory=dict)
    #: For an editable install: dist-relative path -> the project's file it is a copy of (the
    #: SBOM's owners find the others below site-packages, as their RECORD says).
    origins: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        count = len(self.files)
        return (
            f"{self.package} ({self.distribution}), {count} file{'s' if count != 1 else ''}, "
            f"{self.size / 1e6:.2f} MB"
        )


def add_files(
    dist: Path,
    options: BuildOptions,
    modules: frozenset[str],
    sys_path: Sequence[str],
) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """After Nuitka: ``--include-data``, the ``--as-files`` packages the app uses and every
    compiled-in package's data, copied into the dist. Returns the files outside the build
    environment with their hashes, for the dist's cache entry (``--include-data``'s, editable
    installs'), one line per package added (for ``-v``, at every build that uses the dist),
    and the origins of the editable installs' files (dist-relative path -> project file)."""
    sources = copy_included_data(dist, options.include_data)
    used = [package for package in options.as_files if package in modules]
    lines = [f"as files: {item.describe()}" for item in copy_package_files(dist, used, sys_path)]
    origins: dict[str, str] = {}
    for item in package_data(dist, modules, sys_path, options.no_package_data):
        lines.append(
            f"package data: {item.describe()} (--no-package-data {item.package} leaves it out)"
        )
        sources.update(item.sources)
        origins.update(item.origins)
    return sources, lines, origins


def copy_included_data(dist: Path, items: Sequence[str]) -> dict[str, str]:
    """Copy each ``--include-data SRC=DEST`` (SRC absolute, checked) into the dist at DEST:
    a file, or a directory with everything in it (``.py`` files too) but ``__pycache__``.
    Returns every copied source file with its hash, for the dist's cache entry."""
    sources: dict[str, str] = {}
    for item in items:
        source, _, dest = item.partition("=")
        root = Path(source)
        target = dist / dest
        pairs = (
            [(root, target)]
            if not root.is_dir()
            else [(path, target / path.relative_to(root)) for path in _tree(root)]
        )
        for path, copy in pairs:
            try:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
                sources[str(path)] = file_digest(path)
            except OSError as exc:
                raise CompileError(f"--include-data: cannot copy {path}: {exc.strerror}") from exc
    return sources


def _tree(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            yield Path(dirpath, name)


def included_files(items: Sequence[str]) -> list[str]:
    """Every file ``--include-data`` ships, as ``DEST/relative path``: what a cached dist
    must have been made with (a file added to a shipped directory means a new dist)."""
    found: list[str] = []
    for item in items:
        source, _, dest = item.partition("=")
        root = Path(source)
        if root.is_dir():
            found.extend(f"{dest}/{p.relative_to(root).as_posix()}" for p in _tree(root))
        else:
            found.append(dest)
    return found


def python_files(items: Sequence[str]) -> list[Path]:
    """The ``.py`` files that ``--include-data`` ships (scripts loaded by path: migrations)."""
    found: list[Path] = []
    for item in items:
        root = Path(item.partition("=")[0])
        if root.is_dir():
            found.extend(path for path in _tree(root) if path.suffix == ".py")
        elif root.suffix == ".py":
            found.append(root)
    return found


#: Suffixes of the configuration files whose dotted names the probe reads as module names
#: (and of scripts shipped as data, whose strings it reads: ``gunicorn.conf.py``).
CONFIG_SUFFIXES = frozenset(
    {".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env", ".properties", ".py"}
)
#: How many of them are read at most (a directory of JSON records is data, not configuration).
CONFIG_FILES_READ = 200


def config_files(items: Sequence[str]) -> list[Path]:
    """The configuration files (:data:`CONFIG_SUFFIXES`) that ``--include-data`` (or
    ``--add-file``) ships, ``SRC=DEST`` items, the first :data:`CONFIG_FILES_READ`: what they
    name (logging's handler and formatter classes, plugins) is imported by that name."""
    found: list[Path] = []
    for item in items:
        root = Path(item.partition("=")[0])
        files = _tree(root) if root.is_dir() else iter([root])
        found.extend(path for path in files if path.suffix.lower() in CONFIG_SUFFIXES)
    return found[:CONFIG_FILES_READ]


def imported_modules(files: Iterable[Path]) -> set[str]:
    """The absolute module names the files import (``import a.b``, ``from a.b import c``:
    ``a.b`` and ``a.b.c``), for Nuitka to compile in what code loaded by path will import."""
    names: set[str] = set()
    for path in files:
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    # Importing a.b imports a first.
    return names | {name.rsplit(".", i)[0] for name in names for i in range(1, name.count(".") + 1)}


def find_module(name: str, sys_path: Sequence[str], stdlib: frozenset[str]) -> bool:
    """Whether the build interpreter has module ``name`` as a file (or, top-level, as a
    built-in standard library module): what Nuitka can be asked to include."""
    parts = name.split(".")
    for entry in sys_path:
        base = Path(entry, *parts)
        if (base / "__init__.py").is_file() or base.with_suffix(".py").is_file():
            return True
        if base.parent.is_dir() and any(
            child.name.startswith(parts[-1] + ".") and ".so" in child.name
            for child in base.parent.iterdir()
        ):
            return True
        if len(parts) > 1 and base.is_dir() and (base.parent / "__init__.py").is_file():
            return True  # a package directory without __init__ under a package: namespace
    return len(parts) == 1 and parts[0] in stdlib


def package_data(
    dist: Path, modules: frozenset[str], sys_path: Sequence[str], leave_out: Sequence[str]
) -> list[PackageData]:
    """Copy into the dist the data files of every package compiled in (``modules``), from the
    RECORDs of the distributions on ``sys_path``; ``leave_out``: packages whose data is not
    shipped (and their subpackages). A file already in the dist (Nuitka's) is kept as it is.

    A file is a package's data when the nearest directory above it that is a package (has an
    ``__init__``) is compiled in, and it is neither code nor a test, documentation, header or
    type stub (see :data:`_SKIP_DIRECTORIES`). A ``.py`` file in a directory that is no regular
    package is data too: a template or script the package reads (alembic's ``env.py``).
    """
    found: list[PackageData] = []
    seen: set[str] = set()
    tops = {module.split(".")[0] for module in modules}
    for distribution in _distributions(sys_path):
        name = distribution.metadata["Name"] or "?"
        recorded = distribution.files
        files = (
            [(PurePosixPath(entry.as_posix()), Path(str(entry.locate()))) for entry in recorded]
            if recorded is not None
            else list(_unrecorded_files(distribution, tops))
        )
        editable = _editable_packages(distribution, tops)
        for mapped_name, directory in sorted(editable.items()):
            files.extend(_package_files(mapped_name, directory))
        packages = _package_dirs(rel for rel, _source in files)
        chosen: dict[str, list[tuple[Path, str]]] = {}
        for rel, source in files:
            package = _owner(rel, packages)
            if package is None or package not in modules or _skipped(rel, packages):
                continue
            if any(package == p or package.startswith(p + ".") for p in leave_out):
                continue
            key = rel.as_posix()
            if key in seen:
                continue
            seen.add(key)
            if not source.is_file() or _is_elf(source) or (dist / key).exists():
                continue
            chosen.setdefault(package.split(".")[0], []).append((source, key))
        for top, pairs in sorted(chosen.items()):
            size = 0
            for source, key in pairs:
                target = dist / key
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                size += target.stat().st_size
            outside: dict[str, str] = {}
            copied: dict[str, str] = {}
            mapped = [d for p, d in editable.items() if p.split(".")[0] == top]
            if mapped:
                outside.update((str(d), listing_digest(d)) for d in mapped)
                outside.update((str(source), file_digest(source)) for source, _key in pairs)
                copied.update((key, str(source)) for source, key in pairs)
            found.append(
                PackageData(
                    package=top,
                    distribution=name,
                    files=tuple(key for _, key in pairs),
                    size=size,
                    sources=outside,
                    origins=copied,
                )
            )
    return found


def _unrecorded_files(
    distribution: metadata.Distribution, tops: set[str]
) -> Iterator[tuple[PurePosixPath, Path]]:
    """For a distribution installed without a RECORD (Debian's python3-* packages), the files
    of its top-level packages that the program has (``tops``), from the directory its
    metadata is in: the names in its ``top_level.txt``, else its own name. Debian's
    python3-netaddr reads ``netaddr/eui/oui.idx``, which no RECORD lists: the image had none."""
    try:
        base = Path(str(distribution.locate_file("")))
        listed = distribution.read_text("top_level.txt") or ""
    except (OSError, ValueError):
        return
    names = [line.strip() for line in listed.splitlines() if line.strip()]
    if not names:
        names = [(distribution.metadata["Name"] or "").lower().replace("-", "_")]
    for top in sorted(set(names)):
        if top in tops and top.isidentifier() and (base / top).is_dir():
            yield from _package_files(top, base / top)


def _editable_packages(distribution: metadata.Distribution, tops: set[str]) -> dict[str, Path]:
    """For an editable install (its ``direct_url.json`` says so), the directory of each package
    under ``tops`` (top-level names) that its hook makes importable (``acme.widgets`` below a
    namespace too): a finder's mapping (:func:`_finder_mapping`), or a directory its ``.pth``
    file puts on ``sys.path``."""
    try:
        direct = json.loads(distribution.read_text("direct_url.json") or "{}")
        url = urlparse(direct.get("url", ""))
    except (ValueError, AttributeError):
        return {}
    if not isinstance(direct.get("dir_info"), dict) or not direct["dir_info"].get("editable"):
        return {}
    if url.scheme != "file":
        return {}
    mapping: dict[str, Path] = {}
    roots: list[Path] = []
    for entry in distribution.files or []:
        path = Path(str(entry.locate()))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if entry.suffix == ".pth":
            roots.extend(
                Path(line.strip())
                for line in text.splitlines()
                if line.strip() and not line.startswith(("#", "import ", "import\t"))
            )
        elif entry.suffix == ".py" and entry.name.startswith(("__editable__", "_editable_impl_")):
            mapping.update(
                (package, Path(where))
                for package, where in _finder_mapping(text).items()
                if package.split(".")[0] in tops
            )
    found = {package: where for package, where in mapping.items() if where.is_dir()}
    for top in sorted(tops - {package.split(".")[0] for package in found}):
        for root in roots:
            if (root / top / "__init__.py").is_file():
                found[top] = root / top
                break
            # A namespace package there (``src/acme/widgets``): its regular packages.
            below = dict(_regular_packages(root / top, top))
            if below:
                found.update(below)
                break
    return found


def _regular_packages(directory: Path, name: str, depth: int = 0) -> Iterator[tuple[str, Path]]:
    """The regular packages (``__init__.py``) below the namespace package ``name`` at
    ``directory``, with their dotted names, nested namespaces included."""
    if depth > 8:
        return
    try:
        children = sorted(directory.iterdir())
    except OSError:
        return
    for child in children:
        if not child.is_dir() or not child.name.isidentifier():
            continue
        if (child / "__init__.py").is_file():
            yield f"{name}.{child.name}", child
        else:
            yield from _regular_packages(child, f"{name}.{child.name}", depth + 1)


def _finder_mapping(text: str) -> dict[str, str]:
    """Where an editable install's finder finds each package: setuptools' ``MAPPING``
    (``{"pkg": "/project/pkg"}``), or the ``editables`` library's (hatchling's exact mode)
    ``map_module("pkg", "/project/pkg/__init__.py")`` calls."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    mapped = {}
    for call in ast.walk(tree):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "map_module"
            and len(call.args) == 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)
        ):
            name, where = (str(a.value) for a in call.args)  # type: ignore[attr-defined]
            if where.endswith("__init__.py"):
                mapped[name] = os.path.dirname(where)
    if mapped:
        return mapped
    for node in tree.body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "MAPPING" and value is not None:
            try:
                found = ast.literal_eval(value)
            except ValueError:
                return {}
            if isinstance(found, dict):
                return {str(k): str(v) for k, v in found.items()}
    return {}


def _package_files(package: str, directory: Path) -> Iterator[tuple[PurePosixPath, Path]]:
    """Every file of ``package`` (``acme.widgets``) at ``directory``, as a RECORD would list
    it (``acme/widgets/…``)."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        rel = PurePosixPath(*package.split("."), Path(dirpath).relative_to(directory).as_posix())
        for name in sorted(filenames):
            yield PurePosixPath(os.path.normpath(rel / name)), Path(dirpath, name)


def _distributions(sys_path: Sequence[str]) -> Iterator[metadata.Distribution]:
    """Each distribution installed on ``sys_path`` once (the first found wins, as imports do)."""
    names: set[str] = set()
    for entry in sys_path:
        if not Path(entry).is_dir():
            continue
        for distribution in metadata.distributions(path=[entry]):
            name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
            if name and name not in names:
                names.add(name)
                yield distribution


def _package_dirs(files: Iterable[PurePosixPath]) -> set[PurePosixPath]:
    """Directories that are regular packages: they hold an ``__init__`` module."""
    return {
        entry.parent
        for entry in files
        if entry.name == "__init__.py" or entry.name.startswith("__init__.")
    }


def _owner(rel: PurePosixPath, packages: set[PurePosixPath]) -> str | None:
    """The dotted name of the nearest package directory above ``rel``."""
    if (rel.parts and rel.parts[0] in ("..", "/")) or ".dist-info" in rel.as_posix():
        return None
    for parent in rel.parents:
        if parent in packages:
            return ".".join(parent.parts)
    return None


def _skipped(rel: PurePosixPath, packages: set[PurePosixPath]) -> bool:
    # A .py file outside any regular package's own directory is no module of the package: a
    # template or a script it reads as a file (alembic's templates/generic/env.py).
    template = rel.suffix == ".py" and rel.parent not in packages
    if rel.name in _SKIP_NAMES or (rel.suffix in _CODE_SUFFIXES | _BUILD_SUFFIXES and not template):
        return True
    if ".so." in rel.name:
        return True
    return bool(_SKIP_DIRECTORIES & set(rel.parts[:-1]))


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == _ELF_MAGIC
    except OSError:
        return True


def files_args(
    *,
    as_files: Sequence[str],
    bytecode: Sequence[str],
    include_data: Sequence[str],
    search_path: Sequence[str],
    stdlib: frozenset[str],
    workdir: Path,
) -> list[str]:
    """Nuitka arguments for the packages shipped as files and for the ``.py`` files that
    ``--include-data`` ships.

    A package shipped as files is still in the program, as bytecode (imports from the program
    find it first, and Nuitka follows its imports, standard library and third-party), with
    every module of it once it is used (a package configuration file: what it imports by a
    computed name, a plugin found by globbing, is in the program too); its files in /app give
    it a ``__file__`` that exists, a directory to list and source for ``inspect``. The modules
    that shipped ``.py`` files import are compiled in (they run from their file, with what the
    program has).
    """
    args: list[str] = []
    present = [p for p in as_files if find_module(p, search_path, stdlib)]
    dirs = [Path(entry) for entry in search_path if entry]
    shipped = around_triggers(present, nuitka_triggers(site_dirs(search_path)), dirs)
    args += [f"--noinclude-custom-mode={p}:bytecode" for p in sorted(shipped - set(bytecode))]
    lines = []
    for package in present:
        modules = package_modules(package, search_path)
        if modules:
            lines += [f"- module-name: '{package}'", "  implicit-imports:", "    - depends:"]
            lines += [f"        - '{module}'" for module in modules]
    if lines:
        config = workdir / "as-files.nuitka-package.config.yml"
        header = ["# Packages shipped as files: every module of each, once it is used.", "---"]
        config.write_text("\n".join([*header, *lines]) + "\n", encoding="utf-8")
        args.append(f"--user-package-configuration-file={config}")
    imported = imported_modules(python_files(include_data))
    args += [
        f"--include-module={name}"
        for name in sorted(imported)
        if find_module(name, search_path, stdlib)
    ]
    return args


#: Modules of a package that are never imported by running it.
_NOT_RUN = frozenset({"setup", "conftest", "__main__"})


def package_modules(package: str, sys_path: Sequence[str]) -> list[str]:
    """Every module installed under ``package`` (its plugins, what it imports by a computed
    name), by the RECORDs on ``sys_path``: not its tests, ``setup.py`` or ``__main__``."""
    prefix = package.replace(".", "/") + "/"
    found: set[str] = set()
    for distribution in _distributions(sys_path):
        for entry in distribution.files or []:
            rel = PurePosixPath(entry.as_posix())
            if not rel.as_posix().startswith(prefix) or rel.suffix != ".py":
                continue
            if _SKIP_DIRECTORIES & set(rel.parts[:-1]) or rel.stem in _NOT_RUN:
                continue
            parts = rel.with_suffix("").parts
            found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(found)


def copy_package_files(
    dist: Path, packages: Sequence[str], sys_path: Sequence[str]
) -> list[PackageData]:
    """Copy every file installed under each package's directory (by any distribution: a
    plugin distribution installs into its host's namespace) into the dist, but compiled caches
    and ELF files (Nuitka's to copy). Files already in the dist stay as they are."""
    found: list[PackageData] = []
    for package in packages:
        prefix = package.replace(".", "/") + "/"
        copied: list[str] = []
        size = 0
        owners: set[str] = set()
        for distribution in _distributions(sys_path):
            for entry in distribution.files or []:
                key = entry.as_posix()
                if not key.startswith(prefix) or "__pycache__" in key or key.endswith(".pyc"):
                    continue
                source = Path(str(entry.locate()))
                target = dist / key
                if not source.is_file() or _is_elf(source) or target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                copied.append(key)
                size += target.stat().st_size
                owners.add(distribution.metadata["Name"] or "?")
        if copied:
            found.append(
                PackageData(
                    package=package,
                    distribution=", ".join(sorted(owners)),
                    files=tuple(copied),
                    size=size,
                )
            )
    return found
