"""Programs the app's code runs (``subprocess.run(["git", …])``, ``os.system``), checked against
the planned image: a program it does not have, or a shell where it has none, is a warning at
build time, not a ``FileNotFoundError`` when that code first runs in the image."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from ..compile import NamedProgram
from ..oci import Entry
from .config import merge_env
from .planner import APP_DIR, DEFAULT_PATH, staged_view

#: How many warnings are printed at most; the rest are counted.
_MAX_SHOWN = 5


def missing_programs(
    programs: Sequence[NamedProgram], nodes: Mapping[str, Entry], env: Sequence[str]
) -> list[str]:
    """One warning per program the image cannot run: not there (on its ``PATH`` for a bare
    name, whose ``PATH`` is the image's: ``env`` are the ``--env`` entries)."""
    if not programs:
        return []
    view = staged_view(nodes)  # a program is a file with bytes: generated files are none
    path = dict(e.partition("=")[::2] for e in merge_env(DEFAULT_PATH, *env)).get("PATH", "")
    dirs = [d for d in path.split(":") if d.startswith("/")]
    missing: list[str] = []
    for run in programs:
        if run.program == "sys.executable":
            missing.append(
                f"{run.where}: {run.call} runs sys.executable, which in the image is no Python "
                "interpreter (there is none): a file beside the program that does not exist "
                "(FileNotFoundError), or, where the app imports multiprocessing, the program "
                "itself (the command runs the app again, or fails with -m or -c, exit code 2)"
            )
            continue
        if "/" in run.program:
            found = view.realpath(posixpath.join(APP_DIR, run.program)) is not None
        else:
            found = any(view.realpath(posixpath.join(d, run.program)) for d in dirs)
        if found:
            continue
        if run.program == "/bin/sh":
            missing.append(
                f"{run.where}: {run.call} runs its command through /bin/sh, which the image "
                "does not have; give the program and its arguments as a list, without "
                "shell=True, or build on a --base that has a shell"
            )
        else:
            missing.append(
                f"{run.where}: {run.call} runs {run.program!r}, which the image does not have"
                f"{'' if '/' in run.program else ' on its PATH'}; add it (--add-file, with "
                "--trace for what it loads) or build on a --base that has it"
            )
    if len(missing) > _MAX_SHOWN:
        missing[_MAX_SHOWN:] = [f"and {len(missing) - _MAX_SHOWN} more programs the image lacks"]
    return missing


def missing_host_files(
    host_paths: Sequence[tuple[str, str, bool, str, str]], nodes: Mapping[str, Entry]
) -> list[str]:
    """One warning per file or directory of the build machine that the app's code names and
    the image does not have (``host_paths`` as :attr:`NamedModules.host_paths`): the app
    finds it here and not in the image (Pillow's ``truetype("DejaVuSans.ttf")`` raised
    ``OSError: cannot open resource``)."""
    if not host_paths:
        return []
    view = staged_view(nodes)
    missing: list[str] = []
    for path, dest, is_dir, font, where in host_paths:
        if view.realpath(dest) is not None:
            continue
        what = "directory" if is_dir else "file"
        add = path if dest == path else f"{path}={dest}"
        if font:
            missing.append(
                f"{where}: the app's code names the font {font}, which this machine has "
                f"({path}) where Pillow looks fonts up, and the image does not: "
                f"--add-file {add} puts it there"
            )
        else:
            missing.append(
                f"{where}: the app's code names {path}, a {what} of this machine that the image "
                f"does not have: --add-file {add} puts it there"
            )
    if len(missing) > _MAX_SHOWN:
        missing[_MAX_SHOWN:] = [
            f"and {len(missing) - _MAX_SHOWN} more files of this machine the app's code names"
        ]
    return missing
