"""What Nuitka is doing, for the log's progress lines (compile/progress.py): its phases from
its output, and the C files compiled so far from its build directory."""

from __future__ import annotations

from pathlib import Path

from pybin2img.compile.progress import NuitkaProgress


def test_nuitka_progress_follows_its_phases_and_counts_object_files(tmp_path: Path) -> None:
    progress = NuitkaProgress(tmp_path)
    assert progress.describe() == "Nuitka: starting"
    progress.line("Nuitka: Starting Python compilation with:\n")
    assert "Python-level" in progress.describe()
    progress.line("Nuitka: Running C compilation via Scons.\n")
    build = tmp_path / "hello.build"
    (build / "static_src").mkdir(parents=True)
    for name in ("a.c", "b.c", "static_src/c.c", "a.o"):
        (build / name).write_text("")
    assert progress.describe() == "C compilation, 1 of 3 C files compiled"
    for name in ("b.o", "static_src/c.o"):
        (build / name).write_text("")
    assert progress.describe() == "C compilation: all 3 C files compiled, linking"
