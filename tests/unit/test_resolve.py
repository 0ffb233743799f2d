"""glibc's (and musl's) search rules on synthetic ELF files in a virtual tree.

Every file here is written by :mod:`tests.unit.elfgen`; the real loader is the oracle in
``tests/integration/test_resolver_loader.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pybin2img.errors import ResolveError
from pybin2img.resolve import elf
from pybin2img.resolve.closure import Closure, Conflict
from pybin2img.resolve.fsview import Directory, RegularFile, Symlink, TreeView
from pybin2img.resolve.process import resolve_closure, verify_closure
from tests.unit.elfgen import EM_AARCH64, build_cache, make_elf

LOADER = "/lib64/ld-linux-x86-64.so.2"
SYS = "/usr/lib/x86_64-linux-gnu"
DEBIAN_DIRS = b"\0/lib/x86_64-linux-gnu/\0/usr/lib/x86_64-linux-gnu/\0/lib/\0/usr/lib/\0"


class World:
    """A target root under construction: synthetic ELF files, links, a glibc."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nodes: dict[str, Any] = {}

    def elf(self, path: str, **facts: Any) -> str:
        blob = self.tmp / f"blob{len(self.nodes)}"
        make_elf(blob, **facts)
        self.nodes[path] = RegularFile(source=str(blob))
        return str(blob)

    def prog(self, path: str = "/app/bin/main", **facts: Any) -> str:
        facts.setdefault("needed", ["libc.so.6"])
        return self.elf(path, interp=LOADER, e_type=3, **facts)

    def data(self, path: str, content: bytes) -> None:
        blob = self.tmp / f"blob{len(self.nodes)}"
        blob.write_bytes(content)
        self.nodes[path] = RegularFile(source=str(blob))

    def link(self, path: str, target: str) -> None:
        self.nodes[path] = Symlink(target=target)

    def glibc(self, version: tuple[int, int] = (2, 36), *, hwcaps: bool = True) -> None:
        self.link("/lib", "usr/lib")
        self.link(LOADER, f"{SYS}/ld-linux-x86-64.so.2")
        payload = DEBIAN_DIRS + (b"glibc-hwcaps\0" if hwcaps else b"")
        self.elf(
            f"{SYS}/ld-linux-x86-64.so.2",
            soname="ld-linux-x86-64.so.2",
            verdef=["ld-linux-x86-64.so.2", "GLIBC_2.3", "GLIBC_PRIVATE"],
            payload=payload,
        )
        versions = [f"GLIBC_2.{minor}" for minor in range(2, version[1] + 1)]
        self.elf(
            f"{SYS}/libc.so.6",
            soname="libc.so.6",
            needed=["ld-linux-x86-64.so.2"],
            verneed={"ld-linux-x86-64.so.2": ["GLIBC_2.3"]},
            verdef=["libc.so.6", *versions],
        )
        self.elf(f"{SYS}/libgcc_s.so.1", soname="libgcc_s.so.1", needed=["libc.so.6"])

    def view(self) -> TreeView:
        return TreeView(self.nodes)

    def resolve(self, *roots: str, **options: Any) -> Closure:
        return resolve_closure(list(roots or ["/app/bin/main"]), self.view(), **options)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.glibc()
    return w


def paths(closure: Closure, reason: str | None = None) -> list[str]:
    return [o.path for o in closure.objects if reason is None or o.reason == reason]


def resolved(closure: Closure, requester: str, name: str) -> str:
    (edge,) = [e for e in closure.edges if e.requester == requester and e.needed == name]
    return edge.resolved


# -- the basic walk --------------------------------------------------------------------------------


def test_minimal_program(world: World) -> None:
    world.prog()
    closure = world.resolve()
    assert (closure.interpreter, closure.machine) == (LOADER, "EM_X86_64")
    assert (closure.libc, closure.glibc_version) == ("glibc", (2, 36))
    assert closure.default_dirs == ("/lib/x86_64-linux-gnu", SYS, "/lib", "/usr/lib")
    assert [(o.path, o.reason) for o in closure.objects] == [
        ("/app/bin/main", "root"),
        (LOADER, "interpreter"),
        ("/lib/x86_64-linux-gnu/libc.so.6", "needed"),
        ("/lib/x86_64-linux-gnu/libgcc_s.so.1", "dlopen"),
    ]
    libc = closure.objects[2]
    assert libc.realpath == f"{SYS}/libc.so.6"
    assert libc.needed_by == "/app/bin/main"
    # libc's DT_NEEDED on the loader's SONAME is answered by the loader, never searched.
    assert resolved(closure, libc.path, "ld-linux-x86-64.so.2") == LOADER
    assert resolved(closure, "/app/bin/main", LOADER) == LOADER
    assert closure.warnings == ()


def test_breadth_first_first_wins_and_conflict(world: World) -> None:
    """Experiment D: BFS decides between two copies; the other copy is a reported conflict."""
    world.prog(needed=["libP.so", "libZ.so", "libc.so.6"], runpath="$ORIGIN:$ORIGIN/mz")
    world.elf("/app/bin/libP.so", needed=["libZ.so"], runpath="$ORIGIN/pz")
    world.elf("/app/bin/mz/libZ.so", soname="libZ.so")
    world.elf("/app/bin/pz/libZ.so", soname="libZ.so")
    closure = world.resolve()
    assert resolved(closure, "/app/bin/libP.so", "libZ.so") == "/app/bin/mz/libZ.so"
    assert closure.conflicts == (
        Conflict(
            name="libZ.so",
            requester="/app/bin/libP.so",
            loaded="/app/bin/mz/libZ.so",
            alternative="/app/bin/pz/libZ.so",
        ),
    )
    assert {"/app/bin/mz/libZ.so", "/app/bin/pz/libZ.so"} <= set(paths(closure))
    assert str(closure.conflicts[0]) == (
        "libZ.so needed by /app/bin/libP.so is /app/bin/mz/libZ.so when that is loaded first, "
        "else /app/bin/pz/libZ.so; both are included"
    )


def test_rpath_is_inherited_through_the_loader_chain(world: World) -> None:
    """Experiment A: libB has no RPATH; libA's RPATH (its loader) finds libC."""
    world.prog(needed=["libA.so", "libc.so.6"], rpath="$ORIGIN/../lib")
    world.elf("/app/lib/libA.so", needed=["libB.so"], rpath="$ORIGIN/../shared")
    world.elf("/app/lib/libB.so", needed=["libC.so"])
    world.elf("/app/shared/libC.so")
    closure = world.resolve()
    assert (
        resolved(closure, "/app/bin/../lib/libB.so", "libC.so")
        == "/app/bin/../lib/../shared/libC.so"
    )


def test_runpath_is_not_inherited(world: World) -> None:
    """Experiment B: the main program's RUNPATH does not apply to libA's lookups."""
    world.prog(needed=["libA.so", "libc.so.6"], runpath="$ORIGIN/../lib")
    world.elf("/app/lib/libA.so", needed=["libB.so"])
    world.elf("/app/lib/libB.so")
    with pytest.raises(ResolveError) as info:
        world.resolve()
    message = str(info.value)
    assert message.startswith("libB.so needed by /app/bin/main (via libA.so) was not found in: ")
    assert message.endswith("; install it or pass --library-path")
    assert "/usr/lib/x86_64-linux-gnu" in message


def test_runpath_disables_the_rpath_chain(world: World) -> None:
    world.prog(needed=["libA.so", "libc.so.6"], rpath="/app/lib")
    world.elf("/app/lib/libA.so", needed=["libB.so"], runpath="/nowhere")
    world.elf("/app/lib/libB.so")
    with pytest.raises(ResolveError, match=r"libB.so needed by /app/bin/main"):
        world.resolve()


def test_origin_is_the_directory_the_library_was_opened_in(world: World) -> None:
    """Experiment C: $ORIGIN of a library reached through a symlink is the link's directory."""
    world.prog(needed=["libS.so", "libc.so.6"], runpath="$ORIGIN/../lib")
    world.link("/app/lib/libS.so", "../real/libS.so.1")
    world.elf("/app/real/libS.so.1", needed=["libX.so"], runpath="$ORIGIN/x")
    world.elf("/app/lib/x/libX.so")
    world.elf("/app/real/x/libX.so")
    closure = world.resolve()
    (libs,) = [o for o in closure.objects if o.soname is None and "libS" in o.path]
    assert (libs.path, libs.realpath) == ("/app/bin/../lib/libS.so", "/app/real/libS.so.1")
    assert resolved(closure, libs.path, "libX.so") == "/app/bin/../lib/x/libX.so"


def test_origin_of_the_program_is_its_real_path(world: World) -> None:
    world.prog(needed=["libA.so", "libc.so.6"], runpath="$ORIGIN/../lib")
    world.link("/usr/bin/main", "/app/bin/main")
    world.elf("/app/lib/libA.so")
    closure = world.resolve("/usr/bin/main")
    assert resolved(closure, "/usr/bin/main", "libA.so") == "/app/bin/../lib/libA.so"


# -- search order ----------------------------------------------------------------------------------


def test_library_path_between_rpath_and_runpath(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in ("/rp", "/lp", "/run"):
        world.elf(f"{d}/libfoo.so")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/run")  # the host's is never read
    world.prog("/a/main", needed=["libfoo.so", "libc.so.6"], rpath="/rp")
    world.prog("/b/main", needed=["libfoo.so", "libc.so.6"], runpath="/run")
    world.prog("/c/main", needed=["libfoo.so", "libc.so.6"])
    assert (
        resolved(world.resolve("/a/main", library_path=["/lp"]), "/a/main", "libfoo.so")
        == "/rp/libfoo.so"
    )
    assert (
        resolved(world.resolve("/b/main", library_path=["/lp"]), "/b/main", "libfoo.so")
        == "/lp/libfoo.so"
    )
    assert resolved(world.resolve("/b/main"), "/b/main", "libfoo.so") == "/run/libfoo.so"
    with pytest.raises(ResolveError):
        world.resolve("/c/main")


def test_ld_so_cache_and_its_fallthrough(world: World) -> None:
    world.prog(needed=["libfoo.so.1", "libbar.so.1", "libc.so.6"])
    world.elf("/opt/foo/libfoo.so.1", soname="libfoo.so.1")
    world.elf(f"{SYS}/libbar.so.1", soname="libbar.so.1")
    world.elf("/opt/foo/glibc-hwcaps/x86-64-v3/libfoo.so.1", soname="libfoo.so.1")
    cache = build_cache(
        [
            ("libfoo.so.1", "/opt/foo/glibc-hwcaps/x86-64-v3/libfoo.so.1", 0x0303, "x86-64-v3"),
            ("libfoo.so.1", "/opt/foo/libfoo.so.1", 0x0303, None),
            ("libbar.so.1", "/opt/gone/libbar.so.1", 0x0303, None),  # stale: falls through
        ]
    )
    world.data("/etc/ld.so.cache", cache)
    world.data("/etc/ld.so.conf", b"/opt/foo\n")
    closure = world.resolve()
    assert resolved(closure, "/app/bin/main", "libfoo.so.1") == "/opt/foo/libfoo.so.1"
    assert resolved(closure, "/app/bin/main", "libbar.so.1") == "/lib/x86_64-linux-gnu/libbar.so.1"
    assert "/opt/foo/glibc-hwcaps/x86-64-v3/libfoo.so.1" in paths(closure, "hwcaps")
    with pytest.raises(ResolveError, match=r"libfoo.so.1 needed by /app/bin/main was not found"):
        world.resolve(use_cache=False)


def test_stale_cache_hint(world: World) -> None:
    world.prog(needed=["libfoo.so.1", "libc.so.6"])
    world.elf("/opt/foo/libfoo.so.1")
    world.data("/etc/ld.so.cache", build_cache([("libc.so.6", f"{SYS}/libc.so.6", 0x0303, None)]))
    world.data("/etc/ld.so.conf", b"/opt/foo\n")
    with pytest.raises(ResolveError, match=r"/opt/foo/libfoo.so.1 exists but is not in /etc/ld.so"):
        world.resolve()


def test_nodeflib(world: World) -> None:
    """-z nodefaultlib: no default directories, no cache entries under them."""
    world.elf("/opt/foo/libfoo.so.1")
    world.data(
        "/etc/ld.so.cache",
        build_cache(
            [
                ("libfoo.so.1", "/opt/foo/libfoo.so.1", 0x0303, None),
                ("libc.so.6", f"{SYS}/libc.so.6", 0x0303, None),
            ]
        ),
    )
    world.prog(needed=["libfoo.so.1", "libc.so.6"], flags_1=elf.DF_1_NODEFLIB)
    with pytest.raises(ResolveError, match=r"libc.so.6 needed by /app/bin/main"):
        world.resolve()
    # Bundle libc and libgcc_s next to the program (staticx style): now it resolves.
    world.prog(needed=["libfoo.so.1", "libc.so.6"], flags_1=elf.DF_1_NODEFLIB, rpath="$ORIGIN")
    world.link("/app/bin/libc.so.6", f"{SYS}/libc.so.6")
    world.link("/app/bin/libgcc_s.so.1", f"{SYS}/libgcc_s.so.1")
    closure = world.resolve()
    assert resolved(closure, "/app/bin/main", "libfoo.so.1") == "/opt/foo/libfoo.so.1"
    assert resolved(closure, "/app/bin/main", "libc.so.6") == "/app/bin/libc.so.6"
    assert "/app/bin/libgcc_s.so.1" in paths(closure, "dlopen")


def test_lib_and_platform_tokens(world: World) -> None:
    world.prog(
        needed=["liba.so", "libp.so", "libc.so.6"], rpath="$ORIGIN/$LIB:${ORIGIN}/p/$PLATFORM"
    )
    world.elf("/app/bin/lib/x86_64-linux-gnu/liba.so")
    world.elf("/app/bin/p/x86_64/libp.so")
    world.elf("/app/bin/p/haswell/libp.so")
    closure = world.resolve()
    assert resolved(closure, "/app/bin/main", "liba.so") == "/app/bin/lib/x86_64-linux-gnu/liba.so"
    assert resolved(closure, "/app/bin/main", "libp.so") == "/app/bin/p/x86_64/libp.so"
    assert paths(closure, "hwcaps") == ["/app/bin/p/haswell/libp.so"]


def test_cwd_relative_elements_are_skipped_with_a_warning(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.prog(needed=["libfoo.so", "libc.so.6"], rpath=":rel:/ok")
    world.elf("/ok/libfoo.so")
    monkeypatch.chdir(tmp_path)
    make_elf(tmp_path / "libfoo.so")  # would be found from this CWD by glibc
    closure = world.resolve()
    assert resolved(closure, "/app/bin/main", "libfoo.so") == "/ok/libfoo.so"
    assert len(closure.warnings) == 2
    assert all("current directory" in w for w in closure.warnings)
    assert world.resolve() == closure  # deterministic


# -- hwcaps ----------------------------------------------------------------------------------------


def test_hwcaps_variants_with_their_own_dependencies(world: World) -> None:
    """Experiment I: every glibc-hwcaps variant ships, whatever CPU builds the image."""
    world.prog(needed=["libX.so", "libc.so.6"], runpath="/app/lib")
    world.elf("/app/lib/libX.so")
    world.elf("/app/lib/glibc-hwcaps/x86-64-v3/libX.so", needed=["libavx.so"])
    world.elf("/app/lib/glibc-hwcaps/x86-64-v4/libX.so")
    world.elf(f"{SYS}/libavx.so")
    closure = world.resolve()
    assert resolved(closure, "/app/bin/main", "libX.so") == "/app/lib/libX.so"
    assert sorted(paths(closure, "hwcaps")) == [
        "/app/lib/glibc-hwcaps/x86-64-v3/libX.so",
        "/app/lib/glibc-hwcaps/x86-64-v4/libX.so",
    ]
    avx = [o for o in closure.objects if o.path.endswith("libavx.so")]
    assert avx[0].needed_by == "/app/lib/glibc-hwcaps/x86-64-v3/libX.so"


def test_no_hwcaps_before_glibc_2_33(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.glibc((2, 31), hwcaps=False)
    world.prog(needed=["libX.so", "libc.so.6"], runpath="/app/lib")
    world.elf("/app/lib/libX.so")
    world.elf("/app/lib/glibc-hwcaps/x86-64-v3/libX.so")
    for name in ("libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2"):
        world.elf(f"{SYS}/{name}", needed=["libc.so.6"])
    closure = world.resolve()
    assert closure.glibc_version == (2, 31)
    assert paths(closure, "hwcaps") == []
    assert [p.rsplit("/", 1)[1] for p in paths(closure, "dlopen")] == [
        "libgcc_s.so.1",
        "libnss_files.so.2",
        "libnss_dns.so.2",
        "libresolv.so.2",
    ]


# -- candidates glibc skips or refuses -------------------------------------------------------------


def test_wrong_class_and_machine_are_skipped(world: World) -> None:
    world.prog(needed=["libfoo.so", "libc.so.6"], rpath="/d32:/darm:/d64")
    world.elf("/d32/libfoo.so", elf_class=32)
    world.elf("/darm/libfoo.so", machine=EM_AARCH64)
    world.elf("/d64/libfoo.so")
    assert resolved(world.resolve(), "/app/bin/main", "libfoo.so") == "/d64/libfoo.so"
    del world.nodes["/d64/libfoo.so"]
    with pytest.raises(
        ResolveError, match=r"skipped: /d32/libfoo.so \(wrong ELF class: ELFCLASS32"
    ):
        world.resolve()


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"big_endian": True}, "ELF file data encoding not little-endian"),
        ({"osabi": 9}, "ELF file OS ABI invalid"),
        ({"e_type": 1}, "only ET_DYN and ET_EXEC can be loaded"),
    ],
)
def test_fatal_candidates_stop_the_search(
    world: World, facts: dict[str, Any], message: str
) -> None:
    world.prog(needed=["libfoo.so", "libc.so.6"], rpath="/d1:/d2")
    world.elf("/d1/libfoo.so", **facts)
    world.elf("/d2/libfoo.so")
    with pytest.raises(ResolveError, match=message):
        world.resolve()


def test_linker_script_first_is_fatal(world: World) -> None:
    """Experiment E: glibc stops at a non-ELF file; it does not go on to d2."""
    world.prog(needed=["libfoo.so", "libc.so.6"], rpath="/d1:/d2")
    world.data(
        "/d1/libfoo.so", b"/* GNU ld script\n   Use the shared library. */\nGROUP ( libfoo.so.1 )\n"
    )
    world.elf("/d2/libfoo.so")
    with pytest.raises(
        ResolveError,
        match=r"^libfoo.so needed by /app/bin/main cannot be loaded: /d1/libfoo.so: invalid ELF",
    ):
        world.resolve()
    world.data("/d1/libfoo.so", b"INPUT(-lfoo)\n")  # under 64 bytes: glibc's length check first
    with pytest.raises(ResolveError, match=r"cannot be loaded: /d1/libfoo.so: file too short"):
        world.resolve()
    world.nodes["/d1/libfoo.so"] = Directory()
    with pytest.raises(ResolveError, match=r"Is a directory"):
        world.resolve()


# -- versions --------------------------------------------------------------------------------------


def test_verneed_must_be_defined(world: World) -> None:
    world.prog(
        needed=["libfoo.so.1", "libc.so.6"],
        rpath="/lib1",
        verneed={"libfoo.so.1": ["FOO_1", "FOO_2"]},
    )
    world.elf("/lib1/libfoo.so.1", soname="libfoo.so.1", verdef=["libfoo.so.1", "FOO_1"])
    with pytest.raises(ResolveError) as info:
        world.resolve()
    assert str(info.value).startswith(
        "/app/bin/main needs version FOO_2 of libfoo.so.1, but /lib1/libfoo.so.1 "
    )


def test_weak_verneed_and_unversioned_library(world: World) -> None:
    world.prog(
        needed=["liba.so", "libb.so", "libc.so.6"],
        rpath="/l",
        verneed={"liba.so": [("A_2", True)], "libb.so": ["B_1"]},
    )
    world.elf("/l/liba.so", verdef=["liba.so", "A_1"])
    world.elf("/l/libb.so")
    closure = world.resolve()
    assert closure.warnings == (
        "/l/libb.so has no version information (required by /app/bin/main)",
    )


def test_glibc_version_needed_by_a_library(world: World) -> None:
    world.prog(needed=["libnew.so", "libc.so.6"], rpath="/l")
    world.elf("/l/libnew.so", needed=["libc.so.6"], verneed={"libc.so.6": ["GLIBC_2.38"]})
    with pytest.raises(ResolveError, match=r"/l/libnew.so needs version GLIBC_2.38 of libc.so.6"):
        world.resolve()


# -- what glibc loads on its own, extras, dlopen roots ---------------------------------------------


def test_libgcc_s_follows_the_executable_rpath_not_runpath(world: World) -> None:
    del world.nodes[f"{SYS}/libgcc_s.so.1"]
    world.prog("/a/main", rpath="$ORIGIN/lib")
    world.prog("/b/main", runpath="$ORIGIN/lib")
    world.elf("/a/lib/libgcc_s.so.1", needed=["libc.so.6"])
    world.elf("/b/lib/libgcc_s.so.1", needed=["libc.so.6"])
    closure = world.resolve("/a/main")
    assert (
        resolved(closure, "/lib/x86_64-linux-gnu/libc.so.6", "libgcc_s.so.1")
        == "/a/lib/libgcc_s.so.1"
    )
    with pytest.raises(
        ResolveError, match=r"^libgcc_s.so.1 \(which glibc loads at run time\) was not found"
    ):
        world.resolve("/b/main")


def test_extra_libs(world: World) -> None:
    world.prog(runpath="$ORIGIN")
    world.elf("/app/bin/libplugin.so", needed=["libdep.so"])
    world.elf(f"{SYS}/libdep.so")
    world.elf("/opt/abs/libabs.so")
    closure = world.resolve(extra_libs=["libplugin.so", "/opt/abs/libabs.so"])
    assert [(o.path, o.reason) for o in closure.objects[-3:]] == [
        ("/app/bin/libplugin.so", "extra"),
        ("/lib/x86_64-linux-gnu/libdep.so", "needed"),
        ("/opt/abs/libabs.so", "extra"),
    ]
    assert closure.extra_libs == ("libplugin.so", "/opt/abs/libabs.so")
    with pytest.raises(ResolveError, match=r"libnope.so \(an extra library\) was not found"):
        world.resolve(extra_libs=["libnope.so"])


def test_openssl_provider_modules_of_the_system_libcrypto(world: World, tmp_path: Path) -> None:
    modules = f"{SYS}/ossl-modules"
    world.prog(needed=["libc.so.6", "libcrypto.so.3"])
    world.elf(
        f"{SYS}/libcrypto.so.3",
        soname="libcrypto.so.3",
        needed=["libc.so.6"],
        payload=f'\0MODULESDIR: "{modules}"\0'.encode(),
    )
    world.elf(f"{modules}/legacy.so", needed=["libcrypto.so.3", "libc.so.6"])
    world.elf(f"{modules}/fips.so", needed=["libc.so.6"])
    world.data(f"{modules}/README", b"not a module")
    closure = world.resolve()
    crypto = "/lib/x86_64-linux-gnu/libcrypto.so.3"
    assert [(o.path, o.needed_by) for o in closure.objects if o.reason == "dlopen"][1:] == [
        (f"{modules}/fips.so", crypto),
        (f"{modules}/legacy.so", crypto),
    ]
    assert resolved(closure, f"{modules}/legacy.so", "libcrypto.so.3") == crypto
    staged = tmp_path / "staged"
    staged.mkdir()
    # a wheel's own copy (another name) and a directory that is not there: nothing more
    bundled = World(staged)
    bundled.glibc()
    bundled.prog(needed=["libc.so.6", "libcrypto-1a2b.so.3"], rpath="/app/libs")
    payload = b'\0MODULESDIR: "/opt/ssl/lib64/ossl-modules"\0'
    bundled.elf("/app/libs/libcrypto-1a2b.so.3", soname="libcrypto-1a2b.so.3", payload=payload)
    bundled.elf("/opt/ssl/lib64/ossl-modules/legacy.so")
    assert "/opt/ssl/lib64/ossl-modules/legacy.so" not in paths(bundled.resolve())
    world.nodes.pop(f"{modules}/legacy.so")
    world.nodes.pop(f"{modules}/fips.so")
    assert paths(world.resolve(), "dlopen") == ["/lib/x86_64-linux-gnu/libgcc_s.so.1"]


def test_dlopen_roots_share_the_process(world: World) -> None:
    world.prog(rpath="/exe-rpath")
    world.elf("/app/e1.so", needed=["libq.so.1", "libshared.so"], rpath="$ORIGIN/e1")
    world.elf("/app/e2.so", needed=["libq.so.1", "libshared.so"], rpath="$ORIGIN/e2")
    world.elf("/app/e1/libq.so.1", soname="libq.so.1")
    world.elf("/app/e2/libq.so.1", soname="libq.so.1")
    world.elf("/exe-rpath/libshared.so")  # a dlopen'd root still sees the executable's RPATH
    closure = world.resolve("/app/bin/main", "/app/e1.so", "/app/e2.so")
    assert paths(closure)[:3] == ["/app/bin/main", "/app/e1.so", "/app/e2.so"]
    assert closure.conflicts == (
        Conflict(
            name="libq.so.1",
            requester="/app/e2.so",
            loaded="/app/e1/libq.so.1",
            alternative="/app/e2/libq.so.1",
        ),
    )
    assert resolved(closure, "/app/e2.so", "libshared.so") == "/exe-rpath/libshared.so"


def test_dlopen_root_found_only_through_another_root_is_a_warning(world: World) -> None:
    world.prog()
    world.elf("/app/e1.so", needed=["libq.so.1"], runpath="$ORIGIN/e1")
    world.elf("/app/e2.so", needed=["libq.so.1"])
    world.elf("/app/e1/libq.so.1", soname="libq.so.1")
    closure = world.resolve("/app/bin/main", "/app/e1.so", "/app/e2.so")
    assert closure.warnings == (
        "libq.so.1 needed by /app/e2.so is found only because /app/e1.so loaded it first "
        "(load order matters)",
    )
    with pytest.raises(ResolveError, match=r"^libq.so.1 needed by /app/e2.so was not found"):
        world.resolve("/app/bin/main", "/app/e2.so", "/app/e1.so")


def test_error_names_the_chain_from_the_root(world: World) -> None:
    world.prog()
    world.elf("/app/_ssl.so", needed=["libssl.so.3"], rpath="$ORIGIN/libs")
    world.elf("/app/libs/libssl.so.3", soname="libssl.so.3", needed=["libcrypto.so.3"])
    world.elf("/app/libs/libcrypto.so.3", soname="libcrypto.so.3", needed=["libfoo.so.1"])
    with pytest.raises(ResolveError) as info:
        world.resolve("/app/bin/main", "/app/_ssl.so")
    assert str(info.value).startswith(
        "libfoo.so.1 needed by /app/_ssl.so (via libssl.so.3 -> libcrypto.so.3) was not found "
        "in: /app/libs, /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib;"
    )
    assert info.value.exit_code == 5


def test_needed_with_a_slash(world: World) -> None:
    world.prog(needed=["/opt/abs/libabs.so", "$ORIGIN/sub/libsub.so", "libc.so.6"])
    world.elf("/opt/abs/libabs.so")
    world.elf("/app/bin/sub/libsub.so")
    closure = world.resolve()
    assert resolved(closure, "/app/bin/main", "/opt/abs/libabs.so") == "/opt/abs/libabs.so"
    assert resolved(closure, "/app/bin/main", "$ORIGIN/sub/libsub.so") == "/app/bin/sub/libsub.so"
    world.prog(needed=["sub/libsub.so", "libc.so.6"])
    with pytest.raises(ResolveError, match=r"current directory"):
        world.resolve()


def test_static_program(world: World) -> None:
    world.elf("/app/static", e_type=2, machine=EM_AARCH64)
    closure = world.resolve("/app/static")
    assert (closure.interpreter, closure.libc, paths(closure)) == (None, None, ["/app/static"])
    # The image's architecture is the program's, read once here.
    assert closure.machine == "EM_AARCH64"


def test_missing_interpreter(world: World) -> None:
    world.elf("/app/bin/main", interp="/lib/ld-missing.so.1", needed=["libc.so.6"])
    with pytest.raises(ResolveError, match=r"program interpreter /lib/ld-missing.so.1"):
        world.resolve()


def test_not_elf_root(world: World) -> None:
    world.data("/app/bin/main", b"#!/bin/sh\n" + b"echo this is a shell script\n" * 4)
    with pytest.raises(ResolveError, match=r"not a loadable ELF file: invalid ELF header"):
        world.resolve()


# -- musl ------------------------------------------------------------------------------------------


def test_musl_search_rules(tmp_path: Path) -> None:
    world = World(tmp_path)
    musl = "/lib/ld-musl-x86_64.so.1"
    world.elf("/lib/libc.musl-x86_64.so.1", soname="libc.musl-x86_64.so.1")
    world.link(musl, "libc.musl-x86_64.so.1")
    world.elf(
        "/app/main",
        interp=musl,
        needed=["libc.musl-x86_64.so.1", "libfoo.so", "libA.so"],
        runpath="/r",
    )
    world.elf("/r/libfoo.so")
    world.elf("/lp/libfoo.so")
    world.elf("/r/libA.so", needed=["libB.so", "libc.so"])
    world.elf("/r/libB.so")  # found through the inherited RUNPATH (glibc would not)
    closure = world.resolve("/app/main", library_path=["/lp"])
    assert (closure.libc, closure.glibc_version) == ("musl", None)
    assert resolved(closure, "/app/main", "libfoo.so") == "/lp/libfoo.so"  # LD_LIBRARY_PATH first
    assert resolved(closure, "/r/libA.so", "libB.so") == "/r/libB.so"
    assert resolved(closure, "/r/libA.so", "libc.so") == musl
    assert not paths(closure, "dlopen")  # no libgcc_s for musl
    assert closure.default_dirs == ("/lib", "/usr/local/lib", "/usr/lib")
    world.data("/etc/ld-musl-x86_64.path", b"/opt/musl\n/usr/lib\n")
    assert world.resolve("/app/main").default_dirs == ("/opt/musl", "/usr/lib")


# -- run-wide properties ---------------------------------------------------------------------------


def test_each_file_parsed_and_each_directory_listed_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: Counter[str] = Counter()
    listings: Counter[tuple[str, ...]] = Counter()
    real_read, real_names = elf.read_elf, TreeView._names

    def read(path: str) -> elf.ElfFacts:
        parses[path] += 1
        return real_read(path)

    def names(self: TreeView, parts: tuple[str, ...]) -> frozenset[str]:
        listings[parts] += 1
        return real_names(self, parts)

    monkeypatch.setattr(elf, "read_elf", read)
    monkeypatch.setattr(TreeView, "_names", names)
    world.prog(needed=["libA.so", "libB.so", "libc.so.6"], rpath="/l")
    world.elf("/l/libA.so", needed=["libB.so", "libc.so.6"])
    world.elf("/l/libB.so", needed=["libc.so.6", "libA.so"])
    world.elf("/app/e.so", needed=["libA.so", "libc.so.6", "libm.so.6"])
    world.elf(f"{SYS}/libm.so.6", soname="libm.so.6", needed=["libc.so.6"])
    world.resolve("/app/bin/main", "/app/e.so")
    assert parses
    assert max(parses.values()) == 1
    assert listings
    assert max(listings.values()) == 1


def test_verify_closure(world: World, tmp_path: Path) -> None:
    world.prog(needed=["libfoo.so.1", "libc.so.6"], runpath="$ORIGIN/../lib")
    world.elf("/app/lib/libfoo.so.1", soname="libfoo.so.1")
    closure = world.resolve()
    verify_closure(closure, world.view())

    # The same bytes moved elsewhere but still found: fine (roots given by their new path).
    moved = dict(world.nodes)
    moved["/srv/bin/main"] = moved.pop("/app/bin/main")
    moved["/srv/lib/libfoo.so.1"] = moved.pop("/app/lib/libfoo.so.1")
    verify_closure(closure, TreeView(moved), roots=["/srv/bin/main"])

    missing = dict(world.nodes)
    del missing["/app/lib/libfoo.so.1"]
    with pytest.raises(ResolveError, match=r"^the staged image does not resolve: libfoo.so.1"):
        verify_closure(closure, TreeView(missing))

    other = dict(world.nodes)
    imposter = make_elf(tmp_path / "imposter", soname="libfoo.so.1")
    other["/app/lib/libfoo.so.1"] = RegularFile(source=str(imposter))
    with pytest.raises(
        ResolveError, match=r"resolves differently.*libfoo.so.1 needed by /app/bin/main"
    ):
        verify_closure(closure, TreeView(other))
