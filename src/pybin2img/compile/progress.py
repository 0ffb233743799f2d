"""What a running Nuitka is doing, in a few words, for the compile stage's progress lines.

Nuitka says little without a terminal: a line when each phase starts, and nothing while the C
compiler runs for minutes. :class:`NuitkaProgress` follows those lines, and during the C phase
counts the object files in Nuitka's build folder against its C files.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

#: Nuitka's phase lines (their start) -> what pybin2img says about them.
_PHASES = (
    ("Nuitka: Starting Python compilation", "Nuitka: Python-level compilation and optimization"),
    ("Nuitka: Completed Python level compilation", "Nuitka: Python-level compilation done"),
    ("Nuitka: Generating source code for C backend", "Nuitka: generating the C code"),
    ("Nuitka: Running data composer", "Nuitka: packing the constants"),
    ("Nuitka: Running C compilation", "C compilation"),
    ("Nuitka-Scons: Backend C compiler", "C compilation"),
    ("Nuitka-Scons: Backend C linking", "linking"),
    ("Nuitka: Removing build directory", "finishing the dist"),
    ("Nuitka: Successfully created", "finishing the dist"),
)


class NuitkaProgress:
    """Feed it Nuitka's output lines (:meth:`line`); :meth:`describe` says where it is."""

    def __init__(self, output_dir: Path) -> None:
        self._output_dir = output_dir
        self._phase = "Nuitka: starting"
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        for start, phase in _PHASES:
            if text.startswith(start):
                with self._lock:
                    self._phase = phase
                return

    def describe(self) -> str:
        with self._lock:
            phase = self._phase
        if phase != "C compilation":
            return phase
        done, total = self._c_files()
        if not total:
            return phase
        if done == total:
            return f"{phase}: all {total} C files compiled, linking"
        return f"{phase}, {done} of {total} C files compiled"

    def _c_files(self) -> tuple[int, int]:
        """Object files made so far and C files to compile, in Nuitka's ``*.build`` folder."""
        done = total = 0
        try:
            builds = [e.path for e in os.scandir(self._output_dir) if e.name.endswith(".build")]
        except OSError:
            return 0, 0
        for build in builds:
            for _, _, files in os.walk(build):
                total += sum(1 for name in files if name.endswith(".c"))
                done += sum(1 for name in files if name.endswith(".o"))
        return min(done, total), total
