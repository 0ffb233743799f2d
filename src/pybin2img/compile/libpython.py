"""Which libpython the program links: with Debian's own Python (or one packaged the same way),
the archive that Python's interpreter is made of.

``python3.X-dev`` ships two static libraries in ``LIBPL``: ``libpython3.X.a``, the objects its
``/usr/bin/python3.X`` is linked from (compiled with the profile of a training run, PGO, and
not position-independent, as that executable is not), and ``libpython3.X-pic.a``,
position-independent and compiled without the profile. Nuitka links the second, into a
position-independent program, so the program ran the interpreter's own code compiled less well
than the interpreter it replaces: examples/hello started in 29.0 M instructions where Debian
12's ``python3 -I -S hello.py`` takes 21.6 M.

pybin2img links the first, as the interpreter is linked: ``-no-pie``, and the whole archive
ahead of Nuitka's objects (``--whole-archive``: every member is taken, so the ``-pic.a`` Nuitka
names later on the line has nothing left to give), with ``--static-libpython=yes`` so that Nuitka
never links a shared libpython beside it. Only where the build interpreter is itself linked that
way (a fixed-address executable with libpython in it, as Debian's are), the two archives are
both there, Nuitka links Debian's Python statically at all (not 3.14: Nuitka 4.3 links its
shared library), and ``--nuitka-arg`` does not choose ``--static-libpython`` itself. The
program's addresses are then as fixed as the interpreter's; the libraries', the heap's and the
stack's are still randomised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile

from ..errors import CompileError
from .probe import Interpreter

#: What pybin2img asks of Nuitka when it links the interpreter's archive.
NUITKA_ARGS = ("--static-libpython=yes",)
#: The first Python whose Debian build Nuitka 4.3 links with its shared library only.
_SHARED_ONLY = (3, 14)


@dataclass(frozen=True)
class Libpython:
    """The archive the build interpreter is made of, linked into the program instead of the
    position-independent one Nuitka picks."""

    archive: Path

    def link_flags(self) -> tuple[str, ...]:
        """For ``LDFLAGS``: a fixed-address program with every member of the archive."""
        return ("-no-pie", "-Wl,--whole-archive", str(self.archive), "-Wl,--no-whole-archive")

    def key(self) -> str:
        """For the compile key: the archive, as the file it is now."""
        try:
            st = self.archive.stat()
        except OSError:
            return f"libpython:{self.archive}"
        return f"libpython:{self.archive}:{st.st_size}:{st.st_mtime_ns}"


def interpreter_libpython(
    interpreter: Interpreter, nuitka_args: Sequence[str]
) -> tuple[Libpython | None, str | None]:
    """The archive to link and ``None``, or ``None`` and why not (``None`` as well where the
    interpreter is not packaged as Debian's are: nothing to say)."""
    if not interpreter.libpl or not interpreter.ldversion:
        return None, None
    libpl = Path(interpreter.libpl)
    archive = libpl / f"libpython{interpreter.ldversion}.a"
    pic = libpl / f"libpython{interpreter.ldversion}-pic.a"
    if not (archive.is_file() and pic.is_file()):
        return None, None
    chosen = [arg for arg in nuitka_args if arg.startswith("--static-libpython")]
    if chosen:
        return None, f"{' '.join(chosen)} in --nuitka-arg chooses"
    version = tuple(int(part) for part in interpreter.python_version.split(".")[:2])
    if version >= _SHARED_ONLY:
        return None, (
            f"Nuitka {interpreter.nuitka_version} links Python {interpreter.python_version} "
            "with its shared library"
        )
    why = _not_like_debian(Path(interpreter.identity[0] or interpreter.executable))
    if why is not None:
        return None, why
    return Libpython(archive), None


def _elf_facts(path: Path) -> tuple[str, tuple[str, ...]]:
    """``e_type`` (``ET_EXEC``) and the ``DT_NEEDED`` names of the ELF file ``path``, read as
    the loader reads them (its program headers)."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        needed = tuple(
            str(getattr(tag, "needed", ""))
            for segment in elf.iter_segments()
            if isinstance(segment, DynamicSegment)
            for tag in segment.iter_tags("DT_NEEDED")
        )
        return str(elf.header.e_type), needed


def _not_like_debian(executable: Path) -> str | None:
    """Why ``executable`` is not a fixed-address program with libpython linked in, or ``None``
    when it is."""
    try:
        kind, needed = _elf_facts(executable)
    except (OSError, ELFError) as exc:
        return f"{executable} could not be read: {exc}"
    if kind != "ET_EXEC":
        return f"{executable} is position-independent"
    shared = [name for name in needed if name.startswith("libpython")]
    if shared:
        return f"{executable} loads {shared[0]}"
    return None


def check_linked(binary: Path, libpython: Libpython) -> None:
    """Fail unless ``binary`` came out as :class:`Libpython` links it: a fixed-address program
    (a position-independent one means the flags never reached the link) with no shared
    libpython (two interpreters in one process)."""
    try:
        kind, needed = _elf_facts(binary)
    except (OSError, ELFError) as exc:
        raise CompileError(f"cannot read the compiled program {binary}: {exc}") from exc
    if kind != "ET_EXEC":
        raise CompileError(
            f"the compiled program {binary.name} is position-independent, though pybin2img "
            f"linked {libpython.archive} with -no-pie: the flags did not reach Nuitka's link"
        )
    shared = [name for name in needed if name.startswith("libpython")]
    if shared:
        raise CompileError(
            f"the compiled program {binary.name} loads {shared[0]} besides "
            f"{libpython.archive}, which pybin2img linked into it"
        )
