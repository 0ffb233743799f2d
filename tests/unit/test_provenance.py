"""The ``org.opencontainers.image.*`` keys (provenance.py's ``oci_keys``): what pybin2img says
about the image's origin, from git, the tag, the project and the base."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pybin2img.app import AppKind, AppSpec
from pybin2img.oci.baseimage import BaseImage
from pybin2img.options import BuildOptions
from pybin2img.provenance import GitInfo, oci_keys
from pybin2img.reference import parse_reference

EPOCH = 1700000000  # 2023-11-14T22:13:20Z
KEY = "org.opencontainers.image."


def _options(tmp_path: Path, tag: str = "reg.example/team/app") -> BuildOptions:
    return BuildOptions(
        app=AppSpec(kind=AppKind.SCRIPT, path=tmp_path / "app.py"),
        reference=parse_reference(tag),
        output=tmp_path / "app.tar",
        python=Path("/usr/bin/python3"),
        cache_dir=tmp_path / "cache",
    )


def test_outside_git_only_the_time_and_the_base(tmp_path: Path) -> None:
    assert oci_keys(_options(tmp_path), GitInfo(), EPOCH) == {
        KEY + "created": "2023-11-14T22:13:20Z",
        KEY + "base.name": "scratch",
    }


def test_everything_known(tmp_path: Path) -> None:
    options = dataclasses.replace(
        _options(tmp_path, "reg.example/team/app:1.2"), licenses="MIT OR Apache-2.0"
    )
    git = GitInfo(commit="a" * 40, commit_time=EPOCH, source="https://git.example/team/app.git")
    base = BaseImage(
        path=tmp_path / "base.tar",
        name="debian:12-slim",
        digest="sha256:" + "b" * 64,
        layers=(),
        config={},
        rootfs=tmp_path,
        tree={},
    )
    assert oci_keys(options, git, EPOCH, base) == {
        KEY + "created": "2023-11-14T22:13:20Z",
        KEY + "base.name": "debian:12-slim",
        KEY + "base.digest": "sha256:" + "b" * 64,
        KEY + "version": "1.2",
        KEY + "source": "https://git.example/team/app.git",
        KEY + "revision": "a" * 40,
        KEY + "licenses": "MIT OR Apache-2.0",
    }


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("app", None),  # no tag: latest, which names no version
        ("app:latest", None),
        ("app:2024.05", "2024.05"),
        ("reg.example:5000/app:v3", "v3"),
    ],
)
def test_the_version_is_the_tag_given(tmp_path: Path, tag: str, version: str | None) -> None:
    keys = oci_keys(_options(tmp_path, tag), GitInfo(), EPOCH)
    assert keys.get(KEY + "version") == version


def test_a_base_tarball_without_a_digest_is_named_only(tmp_path: Path) -> None:
    base = BaseImage(
        path=tmp_path / "base.tar",
        name="base.tar",
        digest=None,
        layers=(),
        config={},
        rootfs=tmp_path,
        tree={},
    )
    keys = oci_keys(_options(tmp_path), GitInfo(), EPOCH, base)
    assert keys[KEY + "base.name"] == "base.tar"
    assert KEY + "base.digest" not in keys
