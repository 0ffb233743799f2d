"""The patterns the program's modules compile as they execute, compiled at build time.

After Nuitka, the build interpreter reads the source of every module the program carries (its
report's ``<module source_path=…>``), finds the ``re.compile`` calls with a constant pattern that
run as a module executes, and writes what compiling each one gives next to the program
(``_regex_table.py``); the program's start-up hook hands those to ``_sre.compile`` instead of
compiling them again (``_startup_hook.precompiled_patterns``). Only with pybin2img's start-up
object, which installs the hook. The table is an optimisation: a failure to make it is logged
and the program compiles every pattern, as the interpreter does.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from xml.etree import ElementTree

from ..cache import Cache, digest_of
from ..log import Log
from ._startup_hook import TABLE_NAME
from .probe import Interpreter

#: The builder, run by the build interpreter (its text is in the compile key: startup.py).
BUILDER = Path(__file__).with_name("_regex_table.py")


def known_file(cache: Cache, interpreter: Interpreter) -> Path:
    """Where the builder keeps what it found in each source, for this interpreter's build (the
    rows are its ``re``'s) and this builder."""
    key = digest_of(
        str(interpreter.executable),
        interpreter.identity,
        interpreter.python_version,
        BUILDER.read_text(encoding="utf-8"),
    )
    return cache.ensure("regex") / f"{key[:16]}.marshal"


def module_sources(report: Path, cwd: Path) -> list[str]:
    """The Python source of each module in Nuitka's ``report``, as the report names it
    (``${sys.prefix}/…`` and the like for the interpreter's, which the builder expands),
    ``${cwd}`` made the directory Nuitka ran in."""
    root = ElementTree.parse(report).getroot()  # noqa: S314 - Nuitka's own report
    sources = []
    for module in root.iter("module"):
        source = module.get("source_path", "")
        if not source.endswith(".py"):
            continue
        if source.startswith("${cwd}"):
            source = str(cwd) + source[len("${cwd}") :]
        sources.append(source)
    return sources


def write_pattern_table(
    dist: Path, report: Path, cwd: Path, interpreter: Interpreter, known: Path, log: Log
) -> dict[str, str]:
    """Write the table into ``dist`` (:data:`TABLE_NAME`, beside the program); log what it
    holds, or why there is none. ``known``: the builder's cache of what it found in each
    source, for this interpreter and builder (:func:`known_file`). Returns the origin of what
    was written, as the dist's origins have it: ``${cwd}``, the app's own, as the program (it
    is made from the app's modules)."""
    table = dist / TABLE_NAME
    listing = dist.parent / "regex-sources.json"
    why = "the builder failed"
    proc: subprocess.CompletedProcess[str] | None = None
    counts = None
    try:
        listing.write_text(json.dumps(module_sources(report, cwd)))
        proc = subprocess.run(
            [str(interpreter.executable), "-I", str(BUILDER), str(listing), str(table), str(known)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        counts = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, ElementTree.ParseError, ValueError, subprocess.SubprocessError) as exc:
        proc, why = None, str(exc)
    finally:
        listing.unlink(missing_ok=True)
    if not isinstance(counts, dict):
        if proc is not None:
            why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        table.unlink(missing_ok=True)
        log.detail(f"patterns: none compiled at build time ({why})")
        return {}
    log.detail(
        f"patterns: {counts.get('kept')} of the {counts.get('found')} that modules compile as "
        f"they execute compiled at build time ({counts.get('bytes')} bytes)"
    )
    return {TABLE_NAME: "${cwd}"}
