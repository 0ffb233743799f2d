from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybin2img.errors import HostError, ImageWriteError
from pybin2img.oci.layer import Kind
from pybin2img.plan.rootfs import RootfsBuilder


def test_parents_are_explicit_and_keep_their_first_metadata() -> None:
    b = RootfsBuilder()
    b.layer("base", "base")
    b.add_dir("home/nonroot", mode=0o700, uid=65532, gid=65532)
    b.layer("app", "app")
    b.add_data("home/nonroot/.config/x", b"x")
    base, app = b.finish()
    paths = [e.path for e in app.entries]
    assert paths == ["home", "home/nonroot", "home/nonroot/.config", "home/nonroot/.config/x"]
    nonroot = next(e for e in app.entries if e.path == "home/nonroot")
    assert (nonroot.mode, nonroot.uid, nonroot.gid) == (0o700, 65532, 65532)
    assert [e.path for e in base.entries] == ["home", "home/nonroot"]


def test_paths_through_planned_symlinks_are_canonical() -> None:
    b = RootfsBuilder()
    b.layer("libs", "libs")
    b.add_symlink("lib", "usr/lib")
    b.add_symlink("lib64", "usr/lib64")
    b.add_symlink("usr/lib64/ld.so", "/lib/x86_64/ld.so")
    b.layer("more", "more")
    b.add_data("lib/x86_64/libz.so.1", b"z")
    (libs, more) = b.finish()
    assert [e.path for e in more.entries] == [
        "usr",
        "usr/lib",
        "usr/lib/x86_64",
        "usr/lib/x86_64/libz.so.1",
    ]
    assert all(e.kind is not Kind.DIR or e.path not in ("lib", "lib64") for e in libs.entries)


def test_directory_over_symlink_is_refused() -> None:
    b = RootfsBuilder()
    b.layer("a", "a")
    b.add_symlink("etc/ssl/certs", "/elsewhere")
    with pytest.raises(ImageWriteError, match="symlink"):
        b.add_dir("etc/ssl/certs")


def test_whiteout_names_are_refused() -> None:
    b = RootfsBuilder()
    b.layer("a", "a")
    with pytest.raises(ImageWriteError, match=r"\.wh\."):
        b.add_data("app/.wh.secret", b"")


def test_empty_layers_are_dropped() -> None:
    b = RootfsBuilder()
    b.layer("a", "a")
    b.layer("b", "b")
    b.add_data("x", b"")
    assert [layer.name for layer in b.finish()] == ["b"]


def test_add_host_path_recreates_symlink_components(tmp_path: Path) -> None:
    root = tmp_path
    (root / "usr/lib/arch").mkdir(parents=True)
    (root / "usr/lib64").mkdir(parents=True)
    os.symlink("usr/lib", root / "lib")
    os.symlink("usr/lib64", root / "lib64")
    (root / "usr/lib/arch/ld-2.so").write_bytes(b"\x7fELF")
    os.symlink("/lib/arch/ld-2.so", root / "usr/lib64/ld.so.2")
    (root / "usr/lib/arch/libz.so.1.2").write_bytes(b"z")
    os.symlink("libz.so.1.2", root / "usr/lib/arch/libz.so.1")

    b = RootfsBuilder()
    b.layer("libs", "libs")
    assert b.add_host_path("/lib64/ld.so.2", host_root=str(root)) == "usr/lib/arch/ld-2.so"
    assert b.add_host_path("/lib/arch/libz.so.1", host_root=str(root)) == "usr/lib/arch/libz.so.1.2"
    (layer,) = b.finish()
    kinds = {e.path: (e.kind, e.target) for e in layer.entries}
    assert kinds["lib64"] == (Kind.SYMLINK, "usr/lib64")
    assert kinds["lib"] == (Kind.SYMLINK, "usr/lib")
    assert kinds["usr/lib64/ld.so.2"] == (Kind.SYMLINK, "/lib/arch/ld-2.so")
    assert kinds["usr/lib/arch/libz.so.1"] == (Kind.SYMLINK, "libz.so.1.2")
    assert kinds["usr/lib/arch/ld-2.so"][0] is Kind.FILE
    assert "lib/arch" not in kinds


def _planned(b: RootfsBuilder) -> None:
    b.layer("base", "base")
    b.add_dir("home/nonroot", mode=0o700, uid=65532, gid=65532)
    b.add_symlink("lib", "usr/lib")
    b.layer("libs", "libs")
    b.add_data("lib/x86_64/libz.so.1", b"z")
    b.add_data("home/nonroot/.profile", b"")
    b.layer("app", "app")
    b.add_data("app/main", b"main", mode=0o755)


def _more(b: RootfsBuilder) -> None:
    with b.into("libs"):
        b.add_data("var/lib/dpkg/status.d/zlib1g", b"Package: zlib1g\n")
        b.add_data("lib/x86_64/libz.so.1", b"z")  # already there: stays where it is
        with b.missing_only():
            b.add_data("home/nonroot/.profile", b"other")
    b.layer("top", "top")
    b.add_data("usr/share/doc/sbom.json", b"{}")


def test_resume_continues_as_if_never_finished() -> None:
    whole = RootfsBuilder()
    _planned(whole)
    _more(whole)

    first = RootfsBuilder()
    _planned(first)
    planned = first.finish()
    resumed = RootfsBuilder.resume(planned, first.nodes)
    assert resumed.finish() == planned
    _more(resumed)
    assert resumed.finish() == whole.finish()
    assert resumed.nodes == whole.nodes


def test_into_makes_a_layer_that_stayed_empty() -> None:
    b = RootfsBuilder()
    b.layer("base", "base")
    b.add_dir("etc")
    b.layer("libs", "libs")
    b.layer("app", "app")
    b.add_data("app/main", b"main")
    resumed = RootfsBuilder.resume(b.finish(), b.nodes)
    with pytest.raises(RuntimeError, match="no layer named 'libs'"), resumed.into("libs"):
        pass
    with resumed.into("libs", "libraries", after=("base",)):
        resumed.add_data("var/lib/x", b"x")
    resumed.add_data("app/more", b"more")  # still the current layer
    assert [(layer.name, [e.path for e in layer.entries]) for layer in resumed.finish()] == [
        ("base", ["etc"]),
        ("libs", ["var", "var/lib", "var/lib/x"]),
        ("app", ["app", "app/main", "app/more"]),
    ]


def test_an_unreadable_host_file_is_the_build_hosts_error(tmp_path: Path) -> None:
    builder = RootfsBuilder()
    builder.layer("system", "system libraries")
    with pytest.raises(HostError, match="cannot read"):
        builder.add_host_path(str(tmp_path / "missing.so"))
