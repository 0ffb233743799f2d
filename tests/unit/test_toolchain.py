"""The toolchain as the image's labels and annotations name it (the probe of the real
programs is in tests/integration/test_host_sbom.py)."""

from __future__ import annotations

from pybin2img import __version__
from pybin2img.toolchain import LABEL_PREFIX, Tool, Toolchain, _tool_name
from tests.sbomfacts import TOOLCHAIN


def test_labels_name_every_tool_with_its_version_line() -> None:
    assert TOOLCHAIN.labels() == {
        f"{LABEL_PREFIX}pybin2img": __version__,
        f"{LABEL_PREFIX}python": "3.11.7",
        f"{LABEL_PREFIX}nuitka": "4.3.5",
        f"{LABEL_PREFIX}cc": "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
        f"{LABEL_PREFIX}patchelf": "patchelf 0.14.3",
        f"{LABEL_PREFIX}strip": "GNU strip (GNU Binutils) 2.40",
    }


def test_a_missing_program_is_left_out() -> None:
    toolchain = Toolchain(python="3.12.1", nuitka=Tool(name="nuitka", version="4.3.5"))
    assert toolchain.programs == ()
    assert f"{LABEL_PREFIX}cc" not in toolchain.labels()


def test_the_compiler_is_named_by_what_it_says_it_is() -> None:
    assert _tool_name("cc", "/usr/bin/x86_64-linux-gnu-gcc-12", ["gcc", "(Debian"]) == "gcc"
    assert _tool_name("cc", "/usr/lib/llvm-14/bin/clang", ["Debian", "clang"]) == "clang"
    assert _tool_name("cc", "/usr/bin/cc", ["cc", "(GCC)", "12.2.0"]) == "gcc"
    assert _tool_name("patchelf", "/usr/bin/patchelf", ["patchelf"]) == "patchelf"
