"""Which Debian package owns each host file pybin2img copies, read from the dpkg database.

An image built from scratch holds copies of the build machine's libraries but no package
database, so vulnerability scanners cannot see them. :func:`system_packages` looks the copied
files up in the build machine's dpkg database (``/var/lib/dpkg``: ``info/*.list``, ``status``,
``diversions``, and ``status.d/`` where a distroless-style database is present) without running
dpkg, and returns what the SBOM and the scanners need as frozen data.
:func:`status_d_entries` turns that into distroless-style ``/var/lib/dpkg/status.d/<package>``
files for the image, which trivy, grype and syft read as installed packages.

Only the dpkg database is read; an RPM database (``/var/lib/rpm``) is not, so on an RPM-based
build machine every copied file is reported as unowned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The dpkg database, relative to the root.
ADMINDIR = "var/lib/dpkg"
#: Where distroless images keep one control stanza per package (image path, no leading ``/``).
STATUS_D = "var/lib/dpkg/status.d"
#: The Status line of every status.d entry: what the image holds is installed, whatever the
#: build machine's package manager wants to do with the package next (hold, deinstall, ...).
INSTALLED = "install ok installed"

#: Files a package's maintainer scripts write, which its file list does not name, and that
#: package: the CA bundle ``update-ca-certificates`` makes from the certificates of
#: ``ca-certificates`` (and any local ones).
WRITTEN_BY = {"/etc/ssl/certs/ca-certificates.crt": "ca-certificates"}

# Top-level directories that usr-merge turns into symlinks into /usr: dpkg may record a file
# under either spelling, and the resolver may hand us the other one.
_USR_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32")
_MAX_SYMLINK_HOPS = 40
# Fields that describe the build machine's state, not the files in the image: conffiles the
# image lacks (syft would list them as the package's files) and the last configured version.
_HOST_ONLY_FIELDS = frozenset({"conffiles", "config-version"})
# deb822: a field name is printable ASCII without spaces or colons, not starting with # or -.
_FIELD = re.compile(r"([^\s:#-][^\s:]*):(.*)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SOURCE = re.compile(r"(\S+)(?:\s*\((\S+)\))?")
# A DEP-5 short name or an expression of them ("GPL-2+ or LGPL-2.1+", "GPL-3+ with
# GCC-exception"); some files put prose on the License line, which is no name.
_LICENSE_NAME = r"[A-Za-z0-9][\w.+~-]*"
_SHORT_NAME = re.compile(
    rf"{_LICENSE_NAME}(?:\s+with\s+{_LICENSE_NAME}(?:\s+exception)?)?"
    rf"(?:,?\s+(?:or|and)\s+{_LICENSE_NAME}(?:\s+with\s+{_LICENSE_NAME}(?:\s+exception)?)?)*"
)


@dataclass(frozen=True, kw_only=True)
class Distro:
    """The build machine's distribution, from ``os-release``."""

    #: ``ID`` (``debian``, ``ubuntu``): the purl namespace.
    id: str
    #: ``VERSION_ID`` (``12``), else ``VERSION_CODENAME``; ``None`` when neither is set (sid).
    version_id: str | None = None

    @property
    def purl_distro(self) -> str:
        """The purl ``distro`` qualifier: ``debian-12``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True, kw_only=True)
class DebianPackage:
    """One installed Debian package that some of the copied files belong to."""

    name: str
    version: str
    architecture: str
    #: Source package: the ``Source`` field's name, else the package's own name.
    source: str
    #: The version in ``Source: name (version)``; ``None`` when it is the binary's version.
    source_version: str | None = None
    #: The ``Status`` field on the build machine (``install ok installed``).
    status: str
    #: ``License`` short names from a machine-readable (DEP-5) ``copyright`` file, sorted;
    #: empty when the file is free-form.
    licenses: tuple[str, ...] = ()
    #: Host path of ``/usr/share/doc/<name>/copyright``, if present.
    copyright: str | None = None
    #: The copied files this package owns, as they were asked about (host path = image path).
    files: tuple[str, ...]
    #: The same files as dpkg records them (``/lib/...`` where the path asked about was
    #: ``/usr/lib/...`` on a usr-merged machine, say).
    recorded_files: tuple[str, ...]
    #: ``(path without leading /, md5)`` from the package's md5sums, for ``recorded_files`` only.
    md5sums: tuple[tuple[str, str], ...] = ()
    #: ``(path asked about, the same file as dpkg records it)`` for each of ``files``.
    paths: tuple[tuple[str, str], ...] = ()
    #: The package's stanza from the status file, verbatim, ending in a newline.
    control: str

    @property
    def key(self) -> str:
        """``name:arch`` as dpkg names its ``info/`` files for ``Multi-Arch: same`` packages."""
        return f"{self.name}:{self.architecture}"

    def md5_of(self, recorded: str) -> str | None:
        """The md5 dpkg has for the file it records as ``recorded`` (``/usr/lib/…``): from
        the md5sums, or for a conffile from the ``Conffiles`` field; ``None`` when it has none."""
        wanted = recorded.lstrip("/")
        for path, md5 in self.md5sums:
            if path == wanted:
                return md5
        stanza = next(_paragraphs(self.control), None)
        for line in ((stanza.get("conffiles") if stanza else None) or "").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0].lstrip("/") == wanted:
                return words[1]
        return None


@dataclass(frozen=True, kw_only=True)
class SystemPackages:
    """What the build machine's package database says about a set of copied files."""

    #: ``dpkg``, or ``None`` when the machine has no dpkg database.
    database: str | None
    distro: Distro | None
    #: Owning packages, sorted by name and architecture.
    packages: tuple[DebianPackage, ...]
    #: Paths asked about that no package owns (built locally, ``/usr/local``, no database).
    unowned: tuple[str, ...]


def system_packages(paths: Iterable[str], *, root: Path = Path("/")) -> SystemPackages:
    """Find the Debian package that owns each of ``paths`` (absolute host paths).

    A path that is a symlink stands for two files in the image (the image keeps the link and
    the file it reaches), so its resolved path is looked up too. A path is matched as given,
    with its parent directory's symlinks resolved, and fully resolved, each also in its
    usr-merge spelling (``/lib/x`` and ``/usr/lib/x``); the first of those that dpkg records
    decides. Diversions are honoured. ``root`` is the file system the paths and the database
    live in (a test's fake tree; symlinks in it are followed only if they are relative).
    """
    rooted = str(root).rstrip("/")
    wanted = sorted({hop for path in paths for hop in _link_chain(os.path.normpath(path), rooted)})
    admindir = root / ADMINDIR
    distro = _distro(root)
    status_d = admindir / "status.d"
    if not (admindir / "status").is_file() and not status_d.is_dir():
        return SystemPackages(database=None, distro=distro, packages=(), unowned=tuple(wanted))

    candidates = {path: _candidates(path, rooted) for path in wanted}
    diversions = _diversions(admindir / "diversions")
    # A diverted file's original path is listed by the diverted package too: look up where
    # the bytes at a diversion's target came from under the original name.
    lookups: set[bytes] = set()
    for names in candidates.values():
        for name in names:
            lookups.add(name)
            if name in diversions.by_target:
                lookups.add(diversions.by_target[name][0])
    listed = _scan_lists(admindir, lookups)

    owned: dict[str, list[tuple[str, str]]] = {}  # list key -> [(path asked, path recorded)]
    unowned: list[str] = []
    for path in wanted:
        found = _owners(candidates[path], listed, diversions)
        if found is None and path in WRITTEN_BY:
            owned.setdefault(WRITTEN_BY[path], []).append((path, path))
            continue
        if found is None:
            unowned.append(path)
            continue
        recorded, keys = found
        for key in keys:
            owned.setdefault(key, []).append((path, os.fsdecode(recorded)))

    stanzas = _read_status(admindir, {key.partition(":")[0] for key in owned})
    packages: list[DebianPackage] = []
    for key, files in owned.items():
        stanza = _stanza_for(key, stanzas)
        if stanza is None:
            # A .list without a status entry: dpkg is mid-removal; treat the files as unowned.
            unowned.extend(path for path, _ in files)
            continue
        packages.append(_package(stanza, key, files, admindir, root))
    packages.sort(key=lambda p: (p.name, p.architecture))
    return SystemPackages(
        database="dpkg",
        distro=distro,
        packages=tuple(packages),
        unowned=tuple(sorted(set(unowned))),
    )


def status_d_entries(
    packages: Iterable[DebianPackage],
    *,
    md5sums: bool = True,
    image_md5sums: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> tuple[tuple[str, bytes], ...]:
    """Distroless-style dpkg files for the image: ``(image path, bytes)``, sorted by path.

    ``var/lib/dpkg/status.d/<name>`` holds the package's stanza from the build machine's
    status file with ``Status: install ok installed`` and without ``Conffiles`` (the image has
    none of them); ``<name>.md5sums`` lists the package's files that are in the image: by
    default the package's own md5sums lines of the files asked about; with ``image_md5sums``
    (package key -> ``(path without leading /, md5)``) those lines instead, which may name a
    copy of the package's file at another path (a library Nuitka copied into ``/app``).
    A package present in several architectures is named ``<name>:<arch>`` instead.
    """
    chosen = list(packages)
    names = [p.name for p in chosen]
    entries: list[tuple[str, bytes]] = []
    for package in chosen:
        base = package.key if names.count(package.name) > 1 else package.name
        entries.append((f"{STATUS_D}/{base}", _image_control(package.control)))
        sums = package.md5sums if image_md5sums is None else image_md5sums.get(package.key, ())
        if md5sums and sums:
            text = "".join(f"{md5}  {path}\n" for path, md5 in sorted(sums))
            entries.append((f"{STATUS_D}/{base}.md5sums", _encode(text)))
    return tuple(sorted(entries))


# --- control files ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Stanza:
    """One deb822 paragraph: field blocks verbatim, and values by lower-cased name."""

    #: ``(name, raw text of the field including continuation lines and newlines)``.
    blocks: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The field's value: first line stripped, continuation lines kept as written."""
        for field, raw in self.blocks:
            if field.lower() == name:
                first, _, rest = raw.partition(":")[2].partition("\n")
                return (first.strip() + ("\n" + rest.rstrip("\n") if rest else "")).strip("\n")
        return None

    @property
    def text(self) -> str:
        return "".join(raw for _, raw in self.blocks)


def _paragraphs(text: str) -> Iterator[_Stanza]:
    """deb822 paragraphs: ``Name: value`` fields, continuation lines start with a blank."""
    for chunk in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")):
        blocks: list[tuple[str, str]] = []
        for line in chunk.strip("\n").split("\n"):
            if not line.strip() or line.startswith("#"):
                continue
            if line[0] in " \t":
                if blocks:
                    name, raw = blocks[-1]
                    blocks[-1] = (name, raw + line + "\n")
                continue
            match = _FIELD.match(line)
            if match:
                blocks.append((match.group(1).strip(), line + "\n"))
        if blocks:
            yield _Stanza(blocks=tuple(blocks))


def _image_control(control: str) -> bytes:
    out: list[str] = []
    has_status = False
    for stanza in _paragraphs(control):
        for name, raw in stanza.blocks:
            lower = name.lower()
            if lower in _HOST_ONLY_FIELDS:
                continue
            has_status = has_status or lower == "status"
            out.append(f"{name}: {INSTALLED}\n" if lower == "status" else raw)
    if not has_status:
        # A stanza read from a distroless database may have none; scanners take a missing
        # Status as installed, but dpkg itself wants one (after Package, where dpkg puts it).
        out.insert(1 if out else 0, f"Status: {INSTALLED}\n")
    return _encode("".join(out))


def _read_status(admindir: Path, names: set[str]) -> dict[str, list[_Stanza]]:
    """The status stanzas of the packages called ``names``, by name (several architectures)."""
    found: dict[str, list[_Stanza]] = {}
    sources = [admindir / "status"]
    status_d = admindir / "status.d"
    if status_d.is_dir():
        sources += sorted(
            p for p in status_d.iterdir() if p.is_file() and not p.name.endswith(".md5sums")
        )
    for source in sources:
        try:
            text = _read_text(source)
        except OSError:
            continue
        for chunk in _PARAGRAPH_BREAK.split(text):
            # Parse only the few stanzas asked for: the status file holds every package.
            match = re.search(r"^Package:[ \t]*(\S+)", chunk, re.MULTILINE | re.IGNORECASE)
            if match is None or match.group(1) not in names:
                continue
            for stanza in _paragraphs(chunk):
                found.setdefault(match.group(1), []).append(stanza)
    return found


def _stanza_for(key: str, stanzas: dict[str, list[_Stanza]]) -> _Stanza | None:
    name, _, arch = key.partition(":")
    choices = [s for s in stanzas.get(name, []) if _installed(s)] or stanzas.get(name, [])
    if arch:
        return next((s for s in choices if s.get("architecture") == arch), None)
    # An info file without ``:arch`` belongs to the one instance that is not Multi-Arch: same.
    return next((s for s in choices if s.get("multi-arch") != "same"), None) or next(
        iter(choices), None
    )


def _installed(stanza: _Stanza) -> bool:
    status = (stanza.get("status") or INSTALLED).split()
    return len(status) == 3 and status[2] not in ("not-installed", "config-files")


# --- ownership ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Diversions:
    #: original path -> diverting package (``:`` for a local diversion).
    by_original: dict[bytes, str]
    #: diverted-to path -> (original path, diverting package).
    by_target: dict[bytes, tuple[bytes, str]]


def _diversions(path: Path) -> _Diversions:
    by_original: dict[bytes, str] = {}
    by_target: dict[bytes, tuple[bytes, str]] = {}
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError:
        lines = []
    for i in range(0, len(lines) - 2, 3):
        original, target, package = lines[i], lines[i + 1], lines[i + 2].decode(errors="replace")
        by_original[original] = package
        by_target[target] = (original, package)
    return _Diversions(by_original=by_original, by_target=by_target)


def _candidates(path: str, rooted: str) -> tuple[bytes, ...]:
    """The spellings of ``path`` dpkg may have recorded, most specific first."""
    parent, name = os.path.split(path)
    forms = [
        path,
        os.path.join(_inside(os.path.realpath(rooted + parent), rooted), name),
        _inside(os.path.realpath(rooted + path), rooted),
    ]
    out: list[bytes] = []
    for form in forms:
        for spelling in (form, _usr_toggled(form)):
            encoded = os.fsencode(spelling)
            if spelling.startswith("/") and encoded not in out:
                out.append(encoded)
    return tuple(out)


def _link_chain(path: str, rooted: str) -> list[str]:
    """``path``, then every link it leads through, then the file reached: all in the image.

    The file reached is named by its real path, as the image writer places it.
    """
    chain = [path]
    while os.path.islink(rooted + chain[-1]) and len(chain) <= _MAX_SYMLINK_HOPS:
        target = os.readlink(rooted + chain[-1])
        chain.append(os.path.normpath(os.path.join(os.path.dirname(chain[-1]), target)))
    if len(chain) > 1:
        chain[-1] = _inside(os.path.realpath(rooted + path), rooted) or chain[-1]
    return chain


def _inside(resolved: str, rooted: str) -> str:
    if not rooted:
        return resolved
    return resolved[len(rooted) :] or "/" if resolved.startswith(rooted + "/") else ""


def _usr_toggled(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "usr" and parts[2] in _USR_MERGED:
        return "/" + "/".join(parts[2:])
    if len(parts) > 2 and parts[1] in _USR_MERGED:
        return "/usr" + path
    return ""


def _list_files(admindir: Path) -> Iterator[tuple[str, str, bytes]]:
    """``(package key, file, prefix)``: each file list, and what to prefix its lines with."""
    info = admindir / "info"
    if info.is_dir():
        with os.scandir(info) as it:
            for entry in it:
                if entry.name.endswith(".list"):
                    yield entry.name[: -len(".list")], entry.path, b""
    status_d = admindir / "status.d"
    if status_d.is_dir():
        # A distroless database has no file lists; its md5sums name the regular files.
        with os.scandir(status_d) as it:
            for entry in it:
                if entry.name.endswith(".md5sums"):
                    yield entry.name[: -len(".md5sums")], entry.path, b"/"


def _scan_lists(admindir: Path, lookups: set[bytes]) -> dict[bytes, list[str]]:
    """Recorded path -> package keys whose file list has it, for the paths in ``lookups``.

    There are hundreds of lists with a hundred thousand lines and only a few lines matter:
    no index is built, each list is split and tested against ``lookups`` in C
    (``set.isdisjoint``), which reads a Debian desktop's database in a few tens of ms.
    """
    found: dict[bytes, list[str]] = {}
    for key, path, prefix in _list_files(admindir):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if prefix:
            # "md5  path" (or "md5 *path"), the path without its leading slash.
            lines = [
                prefix + line.split(None, 1)[1].lstrip(b"*")
                for line in data.splitlines()
                if b" " in line
            ]
        else:
            lines = data.split(b"\n")
        if lookups.isdisjoint(lines):
            continue
        for line in lines:
            if line in lookups:
                found.setdefault(line, []).append(key)
    for keys in found.values():
        keys.sort()
    return found


def _owners(
    candidates: Sequence[bytes], listed: dict[bytes, list[str]], diversions: _Diversions
) -> tuple[bytes, list[str]] | None:
    for name in candidates:
        if name in diversions.by_target:
            # The bytes here are the diverted package's, recorded under the original name.
            original, diverter = diversions.by_target[name]
            keys = [k for k in listed.get(original, []) if k.partition(":")[0] != diverter]
            if keys:
                return original, keys
        keys = listed.get(name, [])
        by = diversions.by_original.get(name)
        if keys and by is not None and by != ":":
            # Diverted away: what is at the original path now is the diverting package's.
            keys = [k for k in keys if k.partition(":")[0] == by] or keys
        if keys:
            return name, keys
    return None


def package_sources(names: Iterable[str], *, root: Path = Path("/")) -> dict[str, str]:
    """The source package of each installed package of ``names`` (``proj-data`` -> ``proj``);
    those not installed are left out."""
    wanted = {name.partition(":")[0] for name in names}
    stanzas = _read_status(root / ADMINDIR, wanted)
    found: dict[str, str] = {}
    for name in wanted:
        stanza = _stanza_for(name, stanzas)
        if stanza is not None and _installed(stanza):
            source = _SOURCE.match(stanza.get("source") or "")
            found[name] = source.group(1) if source else name
    return found


# --- package details ----------------------------------------------------------------------


def _package(
    stanza: _Stanza, key: str, files: list[tuple[str, str]], admindir: Path, root: Path
) -> DebianPackage:
    name = stanza.get("package") or key.partition(":")[0]
    source_field = _SOURCE.match(stanza.get("source") or "")
    copyright_path = root / "usr/share/doc" / name / "copyright"
    recorded = tuple(sorted({rec for _, rec in files}))
    return DebianPackage(
        name=name,
        version=stanza.get("version") or "",
        architecture=stanza.get("architecture") or "",
        source=source_field.group(1) if source_field else name,
        source_version=source_field.group(2) if source_field else None,
        status=stanza.get("status") or INSTALLED,
        licenses=_dep5_licenses(copyright_path),
        copyright=str(copyright_path) if copyright_path.is_file() else None,
        files=tuple(sorted({path for path, _ in files})),
        recorded_files=recorded,
        paths=tuple(sorted(set(files))),
        md5sums=_md5sums(admindir, key, name, set(recorded)),
        control=stanza.text,
    )


def _md5sums(
    admindir: Path, key: str, name: str, recorded: set[str]
) -> tuple[tuple[str, str], ...]:
    wanted = {path.lstrip("/") for path in recorded}
    for candidate in (
        admindir / "info" / f"{key}.md5sums",
        admindir / "info" / f"{name}.md5sums",
        admindir / "status.d" / f"{key}.md5sums",
        admindir / "status.d" / f"{name}.md5sums",
    ):
        try:
            text = _read_text(candidate)
        except OSError:
            continue
        sums: list[tuple[str, str]] = []
        for line in text.splitlines():
            md5, _, path = line.partition(" ")
            path = path.lstrip(" *")  # "md5  path", or "md5 *path" (binary mode)
            if path in wanted:
                sums.append((path, md5))
        return tuple(sorted(sums))
    return ()


def _dep5_licenses(path: Path) -> tuple[str, ...]:
    """The ``License`` short names of a machine-readable copyright file; empty otherwise."""
    try:
        text = _read_text(path)
    except OSError:
        return ()
    stanzas = list(_paragraphs(text))
    if not stanzas or stanzas[0].get("format") is None:
        return ()
    names: set[str] = set()
    for i, stanza in enumerate(stanzas):
        # Stand-alone License paragraphs only hold the texts of names used above.
        if i > 0 and stanza.get("files") is None:
            continue
        value = (stanza.get("license") or "").partition("\n")[0].strip()
        if _SHORT_NAME.fullmatch(value):
            names.add(value)
    return tuple(sorted(names))


def _distro(root: Path) -> Distro | None:
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        try:
            text = _read_text(candidate)
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                fields[key] = value.strip().strip("\"'")
        if "ID" not in fields:
            return None
        version = fields.get("VERSION_ID") or fields.get("VERSION_CODENAME")
        return Distro(id=fields["ID"].lower(), version_id=version or None)
    return None


def _read_text(path: Path) -> str:
    # surrogateescape keeps any non-UTF-8 byte of a stanza intact when it is written back.
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")
