"""Where each file Nuitka put in the dist was copied from, read from its compilation report.

Nuitka's ``--report`` names every library and extension module it copied
(``<included_dll>``, ``<included_extension>``: ``dest_path``, ``source_path``) and every data
file (``<data_file>``: ``name``, ``source``). The sources are written with Nuitka's
placeholders for the build interpreter's prefixes (``${sys.prefix}``, ``${sys.real_prefix}``),
the directory Nuitka ran in (``${cwd}``) and the home directory (``~``), and are kept that
way: a cached dist is reused on another machine, where the same placeholders name that
machine's paths. The SBOM resolves them (:func:`expand`) to find the package each copy comes
from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree

#: Report elements naming a copied file: element -> (destination attribute, source attribute).
_COPIES = {
    "included_dll": ("dest_path", "source_path"),
    "included_extension": ("dest_path", "source_path"),
    "data_file": ("name", "source"),
}


def report_origins(root: ElementTree.Element) -> dict[str, str]:
    """Dist-relative path -> the file it is a copy of, as the report (``root``) writes it."""
    found: dict[str, str] = {}
    for tag, (dest_attribute, source_attribute) in _COPIES.items():
        for element in root.iter(tag):
            dest = element.get(dest_attribute)
            source = element.get(source_attribute)
            if element.get("ignored") == "yes" or not dest or not source:
                continue
            if source.startswith("{"):  # "{generated}": the binary itself
                continue
            found[Path(dest).as_posix()] = source
    return dict(sorted(found.items()))


def expand(source: str, prefixes: Mapping[str, str], home: Path) -> str | None:
    """The host path a report's ``source`` names, given the build interpreter's ``prefixes``
    (``{"${sys.prefix}": "/…/venv", "${sys.real_prefix}": "/usr"}``); ``None`` for one under
    ``${cwd}`` (a directory of the compile that is gone) or an unknown placeholder."""
    if source.startswith("~/"):
        return str(home / source[2:])
    if source.startswith("${"):
        name, _, rest = source.partition("}")
        prefix = prefixes.get(name + "}")
        if prefix is None:
            return None
        return str(Path(prefix) / rest.lstrip("/"))
    return source if source.startswith("/") else None
