"""Progress and diagnostics on stderr. stdout is reserved for the one result line.

A :class:`Log` is created once by the CLI (or by a library caller) and handed to every stage;
stages never print on their own.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Log:
    """Writes progress lines to ``stream`` (stderr) and records how long each stage took.

    ``verbosity``: -1 quiet (errors only), 0 normal (one line per stage), 1 verbose (details and
    the compiler's own output), 2 debug.
    """

    verbosity: int = 0
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    #: Stage name -> seconds, in the order the stages ran.
    timings: dict[str, float] = field(default_factory=dict)
    #: Seconds between the lines that say a stage is still running, when ``stream`` is not a
    #: terminal (a CI log); 0: none.
    heartbeat: float = 30.0
    #: What the running stage is doing, for those lines and the spinner (:meth:`progress`).
    _status: Callable[[], str] | None = field(default=None, repr=False)
    #: Called with each line of a child program's output (:meth:`progress`).
    _listener: Callable[[str], None] | None = field(default=None, repr=False)

    @property
    def verbose(self) -> bool:
        return self.verbosity >= 1

    def _emit(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        """A progress line, shown unless ``--quiet``."""
        if self.verbosity >= 0:
            self._emit(message)

    def detail(self, message: str) -> None:
        """A line shown with ``-v`` only."""
        if self.verbosity >= 1:
            self._emit(f"  {message}")

    def warning(self, message: str) -> None:
        """A warning, shown even with ``--quiet``."""
        self._emit(f"pybin2img: warning: {message}")

    def raw(self, text: str) -> None:
        """Pass-through output of a child program (shown with ``-v`` only)."""
        if self._listener is not None:
            self._listener(text)
        if self.verbosity >= 1:
            self.stream.write(text)
            self.stream.flush()

    @property
    def live(self) -> bool:
        """Whether to animate running stages: on a terminal, at normal verbosity."""
        isatty = getattr(self.stream, "isatty", None)
        return self.verbosity == 0 and bool(isatty and isatty())

    @contextmanager
    def progress(
        self, status: Callable[[], str], on_output: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """While the block runs, the running stage's spinner and still-running lines say
        ``status()``; ``on_output`` sees every line a child program prints (:meth:`raw`)."""
        self._status, self._listener = status, on_output
        try:
            yield
        finally:
            self._status = self._listener = None

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Time a stage; print ``name  12.3s  summary`` when it ends without an exception.

        On a terminal a spinner with the elapsed time shows while the stage runs; elsewhere
        (a CI log) a line every :attr:`heartbeat` seconds says it is still running and what it
        is doing. ``--quiet`` shows neither.
        """
        stage = Stage()
        start = time.monotonic()
        done = threading.Event()
        spinner = None
        if self.live:
            spinner = threading.Thread(
                target=self._spin, args=(name, start, done), daemon=True, name="pybin2img-spinner"
            )
            spinner.start()
        elif self.verbosity >= 0 and self.heartbeat > 0:
            threading.Thread(
                target=self._beat, args=(name, start, done), daemon=True, name="pybin2img-beat"
            ).start()
        try:
            yield stage
        finally:
            done.set()
            if spinner is not None:
                spinner.join()
                self.stream.write("\r\x1b[K")
                self.stream.flush()
        elapsed = time.monotonic() - start
        self.timings[name] = round(self.timings.get(name, 0.0) + elapsed, 3)
        suffix = f"  {stage.summary}" if stage.summary else ""
        self.info(f"{name:<8} {elapsed:6.1f}s{suffix}")

    def _spin(self, name: str, start: float, done: threading.Event) -> None:
        frames = "|/-\\"
        tick = 0
        # Only after a moment: quick stages print their one line without flicker.
        while not done.wait(0.5 if tick == 0 else 0.2):
            elapsed = time.monotonic() - start
            status = self._current_status()
            line = f"{name:<8} {elapsed:6.1f}s  {frames[tick % 4]}{' ' + status if status else ''}"
            self.stream.write(f"\r{line[: self._columns()]}\x1b[K")
            self.stream.flush()
            tick += 1

    def _beat(self, name: str, start: float, done: threading.Event) -> None:
        while not done.wait(self.heartbeat):
            elapsed = time.monotonic() - start
            status = self._current_status()
            self._emit(f"{name:<8} {elapsed:6.1f}s  still running{': ' + status if status else ''}")

    def _current_status(self) -> str:
        status = self._status
        if status is None:
            return ""
        try:
            return status()
        except (OSError, ValueError):  # a progress source that vanished: say nothing
            return ""

    def _columns(self) -> int:
        try:
            return max(20, os.get_terminal_size(self.stream.fileno()).columns - 1)
        except (AttributeError, OSError, ValueError):
            return 79


@dataclass
class Stage:
    """What a running stage reports when it ends."""

    summary: str = ""
