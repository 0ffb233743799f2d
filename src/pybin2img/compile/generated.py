"""The source code the program's libraries generate as they are imported, compiled at build time.

``dataclasses``, ``namedtuple`` and string annotations (``typing.ForwardRef``,
``inspect.get_annotations``) write Python source and compile it as modules execute: a tenth of
the instructions of importing FastAPI, a twentieth of Flask's. After Nuitka, the build
interpreter imports what the app's own files import (never the app's own modules), in a
directory of its own, with an empty environment, records each such source and compiles it
(``_code_table.py``); the program's start-up hook runs the code found there instead of compiling
the source again (``_startup_hook.precompiled_code``). Only with pybin2img's start-up object,
which installs the hook. The table is an optimisation: a failure to make it, or a module that
fails to import here, is logged and leaves the program compiling that source as the interpreter
does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from xml.etree import ElementTree

from ..log import Log
from ._startup_hook import CODE_TABLE_NAME
from .probe import Interpreter

#: The builder, run by the build interpreter (its text is in the compile key: startup.py).
BUILDER = Path(__file__).with_name("_code_table.py")
#: How long importing what the app imports may take before the program goes without a table.
TIMEOUT = 180


def code_request(report: Path, cwd: Path) -> dict[str, list[str]]:
    """What the builder is asked, from Nuitka's ``report``: the app's own files (``files``:
    the modules Nuitka found in the directory it ran in, outside any ``site-packages``), their
    top-level names (``own``: never imported at build time), and every module the program
    holds (``modules``: only those are imported)."""
    root = ElementTree.parse(report).getroot()  # noqa: S314 - Nuitka's own report
    files: list[str] = []
    own: set[str] = set()
    modules: list[str] = []
    for module in root.iter("module"):
        name = module.get("name", "")
        source = module.get("source_path", "")
        modules.append(name)
        if not source.startswith("${cwd}") or "-packages/" in source:
            continue
        own.add(name.split(".")[0])
        if source.endswith(".py"):
            path = str(cwd) + source[len("${cwd}") :]
            files.append(path)
            own.add(Path(path).stem)
    return {"files": files, "own": sorted(own), "modules": modules}


def write_code_table(
    dist: Path, report: Path, cwd: Path, interpreter: Interpreter, log: Log
) -> dict[str, str]:
    """Write the table into ``dist`` (:data:`CODE_TABLE_NAME`, beside the program); log what
    it holds, or why there is none. Returns the origin of what was written, as the dist's
    origins have it: ``${cwd}``, the app's own, as the program."""
    table = dist / CODE_TABLE_NAME
    request = dist.parent / "code-request.json"
    home = dist.parent / "code-table-home"
    why = "the builder failed"
    counts = None
    try:
        request.write_text(json.dumps(code_request(report, cwd)))
        home.mkdir(exist_ok=True)
        counts, why = _run_builder(interpreter, request, table, home)
    except (OSError, ElementTree.ParseError, ValueError) as exc:
        why = str(exc)
    finally:
        request.unlink(missing_ok=True)
        shutil.rmtree(home, ignore_errors=True)
    if not isinstance(counts, dict):
        table.unlink(missing_ok=True)
        log.detail(f"generated code: none compiled at build time ({why})")
        return {}
    failed = counts.get("failed") or 0
    log.detail(
        f"generated code: {counts.get('rows')} sources compiled at build time "
        f"({counts.get('bytes')} bytes) from importing {counts.get('imported')} of the app's "
        f"imports" + (f", {failed} of which failed to import here" if failed else "")
    )
    return {CODE_TABLE_NAME: "${cwd}"}


def _run_builder(
    interpreter: Interpreter, request: Path, table: Path, home: Path
) -> tuple[object, str]:
    """Run the builder in a session of its own (stopped with what the imports started in it
    when it takes too long or pybin2img is interrupted): its counts, or ``None`` and why."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
    }
    with subprocess.Popen(
        [str(interpreter.executable), "-I", "-S", str(BUILDER), str(request), str(table)],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_session(proc)
            return None, f"importing the app's imports took over {TIMEOUT} s"
        except BaseException:
            _kill_session(proc)
            raise
    if proc.returncode != 0:
        return None, (err.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return json.loads(out), ""


def _kill_session(proc: subprocess.Popen[str]) -> None:
    """End what is left of the builder's session (threads, processes the imports started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
