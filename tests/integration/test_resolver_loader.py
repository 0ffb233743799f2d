"""The resolver against the real glibc loader, on tiny gcc-built programs and host binaries.

Each scenario is built once per session under a pytest temporary directory. The oracle is
``ld.so --list`` (or running the program, for what only happens at run time); the product code
itself never runs a binary.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pybin2img.errors import ResolveError
from pybin2img.resolve import elf, fsview
from pybin2img.resolve.closure import Closure
from pybin2img.resolve.fsview import HostView, Node, RegularFile, Symlink, TreeView
from pybin2img.resolve.process import resolve_closure, verify_closure
from tests.conftest import require

pytestmark = pytest.mark.integration

LOADER = "/lib64/ld-linux-x86-64.so.2"
MAIN_C = "int main(void) { return 0; }\n"
THREAD_C = """
#include <pthread.h>
static void *run(void *arg) { pthread_exit(arg); return arg; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_join(t, 0); return 0; }
"""


# -- building --------------------------------------------------------------------------------------


class Workshop:
    """Builds shared libraries and programs with gcc under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def cc(self, out: Path, source: str, *args: str) -> Path:
        self.count += 1
        src = self.root / f"src{self.count}.c"
        src.write_text(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["gcc", "-o", str(out), str(src), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        return out

    def lib(
        self,
        rel: str,
        *,
        soname: str | None = "",
        needed: Sequence[Path] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        source: str | None = None,
        flags: Sequence[str] = (),
    ) -> Path:
        out = self.root / rel
        args = ["-shared", "-fPIC", *flags, *_paths_flags(rpath, runpath)]
        if soname is not None:
            args.append(f"-Wl,-soname,{soname or out.name}")
        code = source or f"int f{self.count}(void) {{ return {self.count}; }}\n"
        return self.cc(out, code, *args, "-Wl,--no-as-needed", *map(str, needed))

    def prog(
        self,
        rel: str,
        *,
        needed: Sequence[Path] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        source: str = MAIN_C,
        flags: Sequence[str] = (),
    ) -> Path:
        args = [*flags, *_paths_flags(rpath, runpath), "-Wl,--allow-shlib-undefined"]
        return self.cc(self.root / rel, source, *args, "-Wl,--no-as-needed", *map(str, needed))


def _paths_flags(rpath: str | None, runpath: str | None) -> list[str]:
    if rpath is not None:
        return ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
    if runpath is not None:
        return ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
    return []


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workshop:
    require(shutil.which("gcc"), "gcc is needed to build the resolver fixtures")
    require(os.path.exists(LOADER), f"the x86-64 glibc loader {LOADER} is needed as the oracle")
    return Workshop(tmp_path_factory.mktemp("resolver"))


# -- the oracle ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    returncode: int
    #: (name, path) in load order; the loader and the vDSO left out.
    libs: list[tuple[str, str]]
    missing: list[str]
    output: str


_ARROW = re.compile(r"^\s+(\S+) => (\S+) \(0x[0-9a-f]+\)$")
_PLAIN = re.compile(r"^\s+(/\S+) \(0x[0-9a-f]+\)$")
_MISSING = re.compile(r"^\s+(\S+) => not found$")
_FAILED = re.compile(r"error while loading shared libraries: (\S+): cannot open shared object file")


def ld_list(prog: Path | str, *, library_path: Sequence[str] = ()) -> Listing:
    cmd = [LOADER]
    if library_path:
        cmd += ["--library-path", ":".join(library_path)]
    proc = subprocess.run([*cmd, "--list", str(prog)], capture_output=True, text=True, check=False)
    libs, missing = [], []
    for line in proc.stdout.splitlines():
        if m := _ARROW.match(line):
            libs.append((m.group(1), m.group(2)))
        elif (m := _PLAIN.match(line)) and m.group(1) != LOADER:
            libs.append((m.group(1), m.group(1)))
        elif m := _MISSING.match(line):
            missing.append(m.group(1))
    missing += _FAILED.findall(proc.stderr)
    return Listing(proc.returncode, libs, missing, proc.stdout + proc.stderr)


def process_libs(closure: Closure) -> list[tuple[str, str]]:
    """What ld.so --list shows for the main program: (first name, path) in load order."""
    reasons = {o.path: o.reason for o in closure.objects}
    alternatives = {c.alternative for c in closure.conflicts}
    loaded = {closure.roots[0]}
    first: dict[str, str] = {}
    for edge in closure.edges:
        if edge.requester not in loaded or reasons[edge.resolved] != "needed":
            continue
        if edge.resolved in alternatives:
            continue
        loaded.add(edge.resolved)
        first.setdefault(edge.resolved, edge.needed)
    order = [o.path for o in closure.objects if o.path in first]
    return [(first[p] if "/" not in first[p] else p, p) for p in order]


def assert_like_loader(closure: Closure, listing: Listing) -> None:
    """Same names, same files, same order as the loader; a hwcaps pick counts as its baseline."""
    assert listing.returncode == 0, listing.output
    variants = {
        o.path: o for o in closure.objects if o.reason == "hwcaps" and o.needed_by is not None
    }
    expected = []
    for name, path in listing.libs:
        # A CPU-specific copy the loader chose on this build host stands for its baseline.
        expected.append((name, _baseline_of(closure, variants[path]) if path in variants else path))
    assert process_libs(closure) == expected


def _baseline_of(closure: Closure, variant: object) -> str:
    name = os.path.basename(getattr(variant, "path", ""))
    for edge in closure.edges:
        if edge.requester == getattr(variant, "needed_by", None) and edge.needed == name:
            return edge.resolved
    raise AssertionError(f"no baseline for {variant}")


def resolve(*roots: Path | str, **options: object) -> Closure:
    return resolve_closure([str(r) for r in roots], HostView("/"), **options)  # type: ignore[arg-type]


def edge(closure: Closure, requester: Path | str, name: str) -> str:
    found = [
        e.resolved for e in closure.edges if e.requester == str(requester) and e.needed == name
    ]
    assert found, f"no lookup of {name} by {requester}"
    return found[0]


# -- experiments A-E, I, H -------------------------------------------------------------------------


def test_exp_a_rpath_inherited_through_an_intermediate_library(shop: Workshop) -> None:
    c = shop.lib("a/shared/libC.so")
    b = shop.lib("a/lib/libB.so", needed=[c])
    a = shop.lib("a/lib/libA.so", needed=[b], rpath="$ORIGIN/../shared")
    main = shop.prog("a/bin/main", needed=[a], rpath="$ORIGIN/../lib")
    closure = resolve(main)
    assert_like_loader(closure, ld_list(main))
    assert edge(closure, f"{shop.root}/a/bin/../lib/libB.so", "libC.so").endswith("/shared/libC.so")


def test_exp_b_main_runpath_is_not_inherited(shop: Workshop) -> None:
    b = shop.lib("b/lib/libB.so")
    a = shop.lib("b/lib/libA.so", needed=[b])
    main = shop.prog("b/bin/main", needed=[a], runpath="$ORIGIN/../lib")
    listing = ld_list(main)
    assert listing.missing == ["libB.so"], listing.output
    with pytest.raises(ResolveError, match=rf"^libB\.so needed by {main} \(via libA\.so\)"):
        resolve(main)


def test_exp_c_origin_through_a_symlink(shop: Workshop) -> None:
    shop.lib("c/lib/x/libX.so", source="int x(void) { return 1; }\n")
    shop.lib("c/real/x/libX.so", source="int x(void) { return 2; }\n")
    libs = shop.lib(
        "c/real/libS.so.1",
        soname="libS.so",
        needed=[shop.root / "c/lib/x/libX.so"],
        runpath="$ORIGIN/x",
    )
    (shop.root / "c/lib/libS.so").symlink_to("../real/libS.so.1")
    main = shop.prog("c/bin/main", needed=[shop.root / "c/lib/libS.so"], runpath="$ORIGIN/../lib")
    closure = resolve(main)
    assert_like_loader(closure, ld_list(main))
    found = edge(closure, f"{shop.root}/c/bin/../lib/libS.so", "libX.so")
    assert found == f"{shop.root}/c/bin/../lib/x/libX.so"  # not real/x: $ORIGIN is the link's dir
    assert libs.exists()


def test_exp_d_breadth_first_order_and_conflict(shop: Workshop) -> None:
    z1 = shop.lib("d/bin/mz/libZ.so")
    shop.lib("d/bin/pz/libZ.so")
    p = shop.lib("d/bin/libP.so", needed=[shop.root / "d/bin/pz/libZ.so"], runpath="$ORIGIN/pz")
    main = shop.prog("d/bin/main", needed=[p, z1], runpath="$ORIGIN:$ORIGIN/mz")
    closure = resolve(main)
    assert_like_loader(closure, ld_list(main))
    assert edge(closure, f"{shop.root}/d/bin/libP.so", "libZ.so") == f"{shop.root}/d/bin/mz/libZ.so"
    (conflict,) = closure.conflicts
    assert (conflict.name, conflict.alternative) == ("libZ.so", f"{shop.root}/d/bin/pz/libZ.so")


def test_exp_e_linker_script_first_on_the_path(shop: Workshop) -> None:
    real = shop.lib("e/d2/libC.so")
    script = shop.root / "e/d1/libC.so"
    script.parent.mkdir(parents=True)
    script.write_text("/* GNU ld script\n   Use the shared library. */\nGROUP ( libC.so.1 )\n")
    main = shop.prog("e/main", needed=[real], rpath=f"{script.parent}:{real.parent}")
    run = subprocess.run([str(main)], capture_output=True, text=True, check=False)
    assert run.returncode == 127
    assert f"{script}: invalid ELF header" in run.stderr
    with pytest.raises(ResolveError, match=rf"cannot be loaded: {script}: invalid ELF header"):
        resolve(main)


def test_exp_i_hwcaps_variant_is_included(shop: Workshop) -> None:
    dep = shop.lib("i/lib/libdep.so")
    base = shop.lib("i/lib/libX.so")
    v3 = shop.lib(
        "i/lib/glibc-hwcaps/x86-64-v3/libX.so",
        soname="libX.so",
        needed=[dep],
        runpath="$ORIGIN/../..",
    )
    main = shop.prog("i/bin/main", needed=[base], runpath="$ORIGIN/../lib")
    closure = resolve(main)
    listing = ld_list(main)
    assert listing.returncode == 0, listing.output
    # Whichever copy this CPU picks, it and what it needs are in the closure.
    assert {path for _, path in listing.libs} <= {o.path for o in closure.objects}
    hwcaps = [o for o in closure.objects if o.reason == "hwcaps"]
    assert [os.path.realpath(o.path) for o in hwcaps] == [str(v3)]
    deps = [o for o in closure.objects if o.needed_by == hwcaps[0].path]
    assert [os.path.realpath(o.path) for o in deps] == [str(dep)]


def _loaded_libgcc(prog: Path) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_DEBUG": "libs"}
    run = subprocess.run([str(prog)], capture_output=True, text=True, env=env, check=True)
    found = re.findall(r"calling init: (\S*libgcc_s\.so\.1)", run.stderr)
    assert found, run.stderr
    return found[0]


def test_exp_h_libgcc_s_is_always_included(shop: Workshop) -> None:
    libgcc = os.path.realpath(
        next(
            p
            for p in ("/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib64/libgcc_s.so.1")
            if os.path.exists(p)
        )
    )
    local = shop.root / "h/bin/lib/libgcc_s.so.1"
    local.parent.mkdir(parents=True)
    shutil.copyfile(libgcc, local)
    with_rpath = shop.prog("h/bin/rpath", rpath="$ORIGIN/lib", source=THREAD_C, flags=["-pthread"])
    with_runpath = shop.prog(
        "h/bin/runpath", runpath="$ORIGIN/lib", source=THREAD_C, flags=["-pthread"]
    )
    for prog in (with_rpath, with_runpath):
        closure = resolve(prog)
        (gcc_s,) = [o for o in closure.objects if o.reason == "dlopen"]
        # glibc's own dlopen sees the executable's RPATH but not its RUNPATH.
        assert gcc_s.path == _loaded_libgcc(prog)
    assert gcc_s.path != str(local)

    # In an image without a system libgcc_s, the RUNPATH program cannot get one: an error.
    closure = resolve(with_runpath)
    nodes = tree_from_closure(closure)
    del nodes[os.path.realpath(gcc_s.path)]
    with pytest.raises(ResolveError, match=r"^libgcc_s\.so\.1 \(which glibc loads at run time\)"):
        resolve_closure([str(with_runpath)], TreeView(nodes), use_cache=False)


# -- other loader rules ----------------------------------------------------------------------------


def test_nodefaultlib(shop: Workshop) -> None:
    foo = shop.lib("n/lib/libfoo.so")
    bare = shop.prog("n/bare", needed=[foo], rpath=str(foo.parent), flags=["-Wl,-z,nodefaultlib"])
    listing = ld_list(bare)
    assert "libc.so.6" in listing.missing, listing.output
    with pytest.raises(ResolveError, match=rf"^libc\.so\.6 needed by {bare} was not found"):
        resolve(bare)
    # With libc (and libgcc_s) on its RPATH, as staticx does, it resolves again.
    for name in ("libc.so.6", "libgcc_s.so.1"):
        (foo.parent / name).symlink_to(os.path.realpath(f"/lib/x86_64-linux-gnu/{name}"))
    closure = resolve(bare)
    assert_like_loader(closure, ld_list(bare))
    assert edge(closure, bare, "libc.so.6") == f"{foo.parent}/libc.so.6"


def test_library_path_is_between_rpath_and_runpath(shop: Workshop) -> None:
    for d in ("lp/run", "lp/lp", "lp/rp"):
        shop.lib(f"{d}/libfoo.so")
    needed = [shop.root / "lp/run/libfoo.so"]
    run = shop.prog("lp/runpath", needed=needed, runpath=str(shop.root / "lp/run"))
    rp = shop.prog("lp/rpath", needed=needed, rpath=str(shop.root / "lp/rp"))
    lp = [str(shop.root / "lp/lp")]
    for prog, expected in ((run, "lp/lp"), (rp, "lp/rp")):
        closure = resolve(prog, library_path=lp)
        assert_like_loader(closure, ld_list(prog, library_path=lp))
        assert edge(closure, prog, "libfoo.so") == str(shop.root / expected / "libfoo.so")


def test_lib_and_platform_tokens(shop: Workshop) -> None:
    multiarch = "lib/x86_64-linux-gnu" if os.path.isdir("/lib/x86_64-linux-gnu") else "lib64"
    liba = shop.lib(f"t/bin/{multiarch}/liba.so")
    for platform in ("x86_64", "haswell", "xeon_phi"):
        shop.lib(f"t/bin/p/{platform}/libp.so")
    main = shop.prog(
        "t/bin/main",
        needed=[liba, shop.root / "t/bin/p/x86_64/libp.so"],
        rpath="$ORIGIN/$LIB:$ORIGIN/p/$PLATFORM",
    )
    closure = resolve(main)
    listing = ld_list(main)
    assert listing.returncode == 0, listing.output
    ours = {o.path for o in closure.objects}
    assert {path for _, path in listing.libs} <= ours
    assert edge(closure, main, "libp.so") == f"{shop.root}/t/bin/p/x86_64/libp.so"
    assert {o.path.split("/")[-2] for o in closure.objects if o.reason == "hwcaps"} == {
        "haswell",
        "xeon_phi",
    }


def test_needed_with_a_slash(shop: Workshop) -> None:
    absolute = shop.lib("s/abs/libabs.so", soname=None)
    origin = shop.lib("s/bin/sub/libsub.so", soname=None)
    main = shop.prog("s/bin/main", needed=[absolute, origin])
    require(shutil.which("patchelf"), "patchelf is not installed")
    proc = subprocess.run(
        ["patchelf", "--replace-needed", str(origin), "$ORIGIN/sub/libsub.so", str(main)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"patchelf failed: {proc.stderr}"
    closure = resolve(main)
    assert_like_loader(closure, ld_list(main))
    assert edge(closure, main, "$ORIGIN/sub/libsub.so") == str(origin)
    assert edge(closure, main, str(absolute)) == str(absolute)


def _machine_patched_copy(source: Path, dest: Path, machine: int) -> None:
    data = bytearray(source.read_bytes())
    struct.pack_into("<H", data, 18, machine)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(data))


def _gcc_has_m32() -> bool:
    """Whether gcc was built with 32-bit x86 among its multilibs (``gcc -print-multi-lib``
    lists ``32;@m32``), as Debian's is. That is all a ``-m32 -nostdlib`` library needs: no
    32-bit C library (gcc-multilib) is linked."""
    proc = subprocess.run(["gcc", "-print-multi-lib"], capture_output=True, text=True, check=False)
    options = {o for line in proc.stdout.splitlines() for o in line.partition(";")[2].split("@")}
    return proc.returncode == 0 and "m32" in options


@pytest.mark.parametrize("wrong", ["machine", "class"])
def test_wrong_class_and_machine_candidates_are_skipped(shop: Workshop, wrong: str) -> None:
    good = shop.lib(f"w-{wrong}/d64/libfoo.so.1", soname="libfoo.so.1")
    other = shop.root / f"w-{wrong}/other/libfoo.so.1"
    if wrong == "machine":
        _machine_patched_copy(good, other, 183)  # EM_AARCH64
    else:
        require(_gcc_has_m32(), "gcc cannot build 32-bit x86 objects (no m32 multilib)")
        shop.lib(
            str(other.relative_to(shop.root)), soname="libfoo.so.1", flags=["-m32", "-nostdlib"]
        )
    main = shop.prog(f"w-{wrong}/main", needed=[good], rpath=f"{other.parent}:{good.parent}")
    closure = resolve(main)
    assert_like_loader(closure, ld_list(main))
    assert edge(closure, main, "libfoo.so.1") == str(good)


def test_unsatisfied_version_is_an_error(shop: Workshop) -> None:
    maps = shop.root / "v"
    maps.mkdir()
    (maps / "old.map").write_text("FOO_1 { global: foo1; local: *; };\n")
    (maps / "new.map").write_text(
        "FOO_1 { global: foo1; local: *; };\nFOO_2 { global: foo2; } FOO_1;\n"
    )
    new = shop.lib(
        "v/new/libv.so.1",
        source="int foo1(void){return 1;} int foo2(void){return 2;}\n",
        flags=[f"-Wl,--version-script,{maps / 'new.map'}"],
    )
    old = shop.lib(
        "v/old/libv.so.1",
        source="int foo1(void){return 1;}\n",
        flags=[f"-Wl,--version-script,{maps / 'old.map'}"],
    )
    source = "int foo2(void);\nint main(void) { return foo2() - 2; }\n"
    good = shop.prog("v/good", needed=[new], rpath=str(new.parent), source=source)
    bad = shop.prog("v/bad", needed=[new], rpath=str(old.parent), source=source)
    assert_like_loader(resolve(good), ld_list(good))
    run = subprocess.run([str(bad)], capture_output=True, text=True, check=False)
    assert "version `FOO_2' not found" in run.stderr
    with pytest.raises(
        ResolveError, match=rf"^{bad} needs version FOO_2 of libv\.so\.1, but {old} "
    ):
        resolve(bad)


def test_dlopen_roots_first_loaded_copy_wins(shop: Workshop) -> None:
    """Two extension modules bundle different copies of one SONAME: import order decides."""
    q1 = shop.lib("x/e1libs/libq.so.1", source="int q(void) { return 1; }\n")
    q2 = shop.lib("x/e2libs/libq.so.1", source="int q(void) { return 2; }\n")
    e1 = shop.lib(
        "x/e1.so",
        needed=[q1],
        rpath="$ORIGIN/e1libs",
        source="int q(void);\nint e(void) { return q(); }\n",
    )
    e2 = shop.lib(
        "x/e2.so",
        needed=[q2],
        rpath="$ORIGIN/e2libs",
        source="int q(void);\nint e(void) { return q(); }\n",
    )
    host = shop.prog(
        "x/host",
        flags=["-ldl"],
        source="""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        int (*e)(void) = (int (*)(void)) dlsym(h, "e");
        printf("%d\\n", e());
    }
    return 0;
}
""",
    )
    run = subprocess.run([str(host), str(e1), str(e2)], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["1", "1"]  # e2 got e1's copy
    closure = resolve(host, e1, e2)
    assert edge(closure, e2, "libq.so.1") == str(q1)
    (conflict,) = closure.conflicts
    assert (conflict.requester, conflict.loaded, conflict.alternative) == (
        str(e2),
        str(q1),
        str(q2),
    )
    assert {str(q1), str(q2)} <= {o.path for o in closure.objects}


# -- real binaries ---------------------------------------------------------------------------------


def _host_programs() -> Iterator[str]:
    seen = set()
    for path in (
        "/usr/bin/ssh",
        sys.executable,
        "/usr/bin/python3",
        "/usr/bin/patchelf",
        "/usr/bin/git",
    ):
        real = os.path.realpath(path)
        if os.path.isfile(real) and real not in seen:
            with open(real, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    seen.add(real)
                    yield real


@pytest.mark.parametrize("program", list(_host_programs()))
def test_host_binaries_match_the_loader(program: str) -> None:
    require(os.path.exists(LOADER), f"needs {LOADER}")
    closure = resolve(program)
    assert_like_loader(closure, ld_list(program))
    assert closure.libc == "glibc"
    assert closure.glibc_version is not None
    assert closure.glibc_version >= (2, 17)
    assert any(o.path.endswith("/libgcc_s.so.1") for o in closure.objects)


def test_python_with_its_extension_modules() -> None:
    python = os.path.realpath(sys.executable)
    dynload = (
        Path(python).parent.parent
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "lib-dynload"
    )
    extensions = sorted(str(p) for p in dynload.glob("*.so"))
    require(extensions, f"no extension modules in {dynload}")
    closure = resolve(python, *extensions)
    assert [o.path for o in closure.objects[: len(extensions) + 1]] == [python, *extensions]
    assert all(o.reason == "root" for o in closure.objects[: len(extensions) + 1])


# -- verification inside a staged tree -------------------------------------------------------------


def tree_from_closure(closure: Closure) -> dict[str, Node]:
    """Every object at its target path, with every symlink met on the way recreated."""
    nodes: dict[str, Node] = {}
    for obj in closure.objects:
        todo = [p for p in obj.path.split("/") if p][::-1]
        done: list[str] = []
        while todo:
            name = todo.pop()
            if name == "..":
                done.pop()
                continue
            here = "/" + "/".join([*done, name])
            if os.path.islink(here):
                target = os.readlink(here)
                nodes[here] = Symlink(target=target)
                if target.startswith("/"):
                    done = []
                todo.extend([p for p in target.split("/") if p][::-1])
            elif todo:
                done.append(name)
            else:
                nodes[here] = RegularFile(source=here)
    return nodes


def test_verify_closure_in_a_staged_tree(shop: Workshop) -> None:
    program = "/usr/bin/ssh" if os.path.exists("/usr/bin/ssh") else os.path.realpath(sys.executable)
    closure = resolve(program)
    nodes = tree_from_closure(closure)
    verify_closure(closure, TreeView(nodes))

    lib = next(o for o in closure.objects if o.reason == "needed" and "libc.so" not in o.path)
    missing = {p: n for p, n in nodes.items() if os.path.realpath(p) != lib.realpath}
    with pytest.raises(ResolveError, match=r"^the staged image does not resolve: "):
        verify_closure(closure, TreeView(missing))


def test_verify_closure_with_origin_paths(shop: Workshop) -> None:
    x = shop.lib("vf/real/x/libX.so")
    s = shop.lib("vf/real/libS.so.1", soname="libS.so", needed=[x], runpath="$ORIGIN/x")
    (shop.root / "vf/lib").mkdir(parents=True)
    (shop.root / "vf/lib/libS.so").symlink_to("../real/libS.so.1")
    (shop.root / "vf/lib/x").symlink_to("../real/x")
    main = shop.prog("vf/bin/main", needed=[shop.root / "vf/lib/libS.so"], runpath="$ORIGIN/../lib")
    closure = resolve(main)
    verify_closure(closure, TreeView(tree_from_closure(closure)))
    assert s.exists()


# -- run-wide properties ---------------------------------------------------------------------------


def test_each_file_parsed_once_each_directory_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parses: Counter[str] = Counter()
    listings: Counter[str] = Counter()
    real_read, real_listdir = elf.read_elf, os.listdir

    def read(path: str) -> elf.ElfFacts:
        parses[path] += 1
        return real_read(path)

    def listdir(path: str) -> list[str]:
        listings[path] += 1
        return real_listdir(path)

    monkeypatch.setattr(elf, "read_elf", read)
    monkeypatch.setattr(fsview.os, "listdir", listdir)
    python = os.path.realpath(sys.executable)
    dynload = (
        Path(python).parent.parent
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "lib-dynload"
    )
    closure = resolve(python, *sorted(str(p) for p in dynload.glob("*.so")))
    assert len(closure.objects) > 3
    assert max(parses.values()) == 1
    assert max(listings.values(), default=1) == 1


def test_independent_of_cwd_and_environment(
    shop: Workshop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = shop.lib("env/lib/libfoo.so")
    main = shop.prog("env/main", needed=[lib], runpath=f":.:{lib.parent}")
    first = resolve(main)
    monkeypatch.chdir(lib.parent.parent)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    shutil.copyfile(lib, tmp_path / "libfoo.so")
    again = resolve(main)
    assert again == first
    assert edge(again, main, "libfoo.so") == str(lib)
    assert len(first.warnings) == 2
