"""Which libpython the program links (compile/libpython.py): Debian's PGO-built archive, as
Debian's interpreter is linked, only where the interpreter is made that way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pybin2img.compile.libpython import Libpython, check_linked, interpreter_libpython
from pybin2img.compile.probe import Interpreter
from pybin2img.errors import CompileError
from tests.unit.elfgen import make_elf

ET_EXEC, ET_DYN = 2, 3
INTERP = "/lib64/ld-linux-x86-64.so.2"


def _debian(
    tmp_path: Path,
    *,
    version: str = "3.13.5",
    e_type: int = ET_EXEC,
    needed: Sequence[str] = ("libm.so.6", "libz.so.1", "libexpat.so.1", "libc.so.6"),
    archives: Sequence[str] = ("libpython3.13.a", "libpython3.13-pic.a"),
) -> Interpreter:
    """An interpreter laid out as Debian's python3.13 is, with what the arguments change."""
    libpl = tmp_path / "usr/lib/python3.13/config-3.13-x86_64-linux-gnu"
    libpl.mkdir(parents=True)
    for name in archives:
        (libpl / name).write_bytes(b"!<arch>\n")
    executable = make_elf(tmp_path / "python3.13", e_type=e_type, needed=needed, interp=INTERP)
    return Interpreter(
        executable=tmp_path / "venv/bin/python",
        python_version=version,
        nuitka_version="4.3.5",
        identity=(str(executable), executable.stat().st_size, 0),
        libpl=str(libpl),
        ldversion="3.13",
    )


def test_debians_interpreter_gets_the_archive_it_is_made_of(tmp_path: Path) -> None:
    interpreter = _debian(tmp_path)
    libpython, why = interpreter_libpython(interpreter, ())
    assert why is None
    assert libpython == Libpython(Path(interpreter.libpl or "") / "libpython3.13.a")
    archive = str(libpython.archive)
    # Fixed addresses, and every member ahead of Nuitka's objects and of its -pic.a.
    assert libpython.link_flags() == (
        "-no-pie",
        "-Wl,--whole-archive",
        archive,
        "-Wl,--no-whole-archive",
    )
    assert libpython.key().startswith(f"libpython:{archive}:8:")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"e_type": ET_DYN}, "is position-independent"),
        ({"needed": ("libpython3.13.so.1.0", "libc.so.6")}, "loads libpython3.13.so.1.0"),
        ({"version": "3.14.0"}, "links Python 3.14.0 with its shared library"),
    ],
)
def test_otherwise_nuitka_links_libpython_and_build_v_says_why(
    tmp_path: Path, change: dict[str, object], why: str
) -> None:
    libpython, said = interpreter_libpython(_debian(tmp_path, **change), ())  # type: ignore[arg-type]
    assert libpython is None
    assert said is not None
    assert why in said


@pytest.mark.parametrize("arg", ["--static-libpython=no", "--static-libpython=yes"])
def test_the_users_static_libpython_choice_is_left_to_nuitka(tmp_path: Path, arg: str) -> None:
    libpython, said = interpreter_libpython(_debian(tmp_path), ("--lto=no", arg))
    assert libpython is None
    assert said == f"{arg} in --nuitka-arg chooses"


@pytest.mark.parametrize(
    "archives", [("libpython3.13.a",), ("libpython3.13-pic.a",), ()], ids=["no-pic", "pic", "none"]
)
def test_an_interpreter_not_packaged_as_debians_says_nothing(
    tmp_path: Path, archives: Sequence[str]
) -> None:
    """pyenv's or a self-built Python: one archive or none; Nuitka's choice, and nothing to
    say about it."""
    assert interpreter_libpython(_debian(tmp_path, archives=archives), ()) == (None, None)


def test_no_libpl_says_nothing(tmp_path: Path) -> None:
    interpreter = Interpreter(
        executable=tmp_path / "python", python_version="3.11.7", nuitka_version="4.3.5"
    )
    assert interpreter_libpython(interpreter, ()) == (None, None)


def test_the_program_must_come_out_at_fixed_addresses_without_a_shared_libpython(
    tmp_path: Path,
) -> None:
    libpython = Libpython(tmp_path / "libpython3.13.a")
    check_linked(make_elf(tmp_path / "fixed", e_type=ET_EXEC, interp=INTERP), libpython)
    with pytest.raises(CompileError, match="is position-independent, though pybin2img linked"):
        check_linked(make_elf(tmp_path / "pie", e_type=ET_DYN, interp=INTERP), libpython)
    both = make_elf(tmp_path / "both", e_type=ET_EXEC, needed=["libpython3.13.so.1.0"])
    with pytest.raises(CompileError, match=r"loads libpython3\.13\.so\.1\.0 besides"):
        check_linked(both, libpython)
    with pytest.raises(CompileError, match="cannot read the compiled program"):
        check_linked(tmp_path / "missing", libpython)
