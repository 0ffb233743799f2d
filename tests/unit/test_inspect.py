from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from pybin2img.errors import InvalidImageError
from pybin2img.oci.documents import ImageConfig
from pybin2img.oci.inspection import format_report, inspect_tarball, size_report
from pybin2img.oci.write import write_image
from pybin2img.plan.rootfs import RootfsBuilder
from pybin2img.reference import parse_reference


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    b = RootfsBuilder()
    b.layer("base", "base files")
    b.add_data("etc/passwd", b"root:x:0:0::/:/sbin/nologin\n")
    b.layer("app", "the app")
    b.add_data("app/app", b"\x7fELF" + bytes(range(256)) * 64, mode=0o755)
    b.add_data("app/libfoo.so.1", b"\x7fELF" + b"x" * 1000)
    b.add_data("app/wordcloud/stopwords", b"a\n" * 50)
    b.add_data("app/wordcloud/fonts/Droid.ttf", b"f" * 300)
    b.add_data("app/model.onnx", b"m" * 200)
    out = tmp_path / "img.tar"
    work = tmp_path / "work"
    work.mkdir()
    write_image(
        layers=b.finish(),
        config=ImageConfig(architecture="amd64", entrypoint=("/app/app",)),
        reference=parse_reference("example/app:1.0"),
        annotations={"org.opencontainers.image.version": "1.0"},
        output=out,
        workdir=work,
    )
    return out


def test_a_good_tarball_is_reported(tarball: Path) -> None:
    report = inspect_tarball(str(tarball))
    assert report.reference == "docker.io/example/app:1.0"
    assert [layer.files for layer in report.layers] == [1, 5]
    assert report.largest[0][1] == "/app/app"
    assert report.layers[1].parts == {"binary": 16388, "bundled libraries": 1004, "data": 600}
    # What each package's data costs: by the directory of /app it is in.
    assert report.data == {"wordcloud": 400, "model.onnx": 200}
    assert report.to_json()["data_by_directory"] == {"wordcloud": 400, "model.onnx": 200}
    text = format_report(report)
    assert "data by directory of /app (uncompressed)\n  wordcloud" in text
    assert 'entrypoint    ["/app/app"]' in text
    assert "the app" in text
    assert not report.warnings


def _rewrite(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy a tarball member by member; ``change`` may alter or (returning None) drop one."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            new = change(member.name, data) if member.isfile() else data
            if new is None:
                continue
            member.size = len(new)
            tout.addfile(member, io.BytesIO(new) if member.isfile() else None)


def _layer_names(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return json.loads(tar.extractfile("manifest.json").read())[0]["Layers"]  # type: ignore[union-attr]


def test_truncated_layer(tarball: Path, tmp_path: Path) -> None:
    top = _layer_names(tarball)[-1]
    bad = tmp_path / "bad.tar"
    _rewrite(tarball, bad, lambda name, data: data[: len(data) // 2] if name == top else data)
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        inspect_tarball(str(bad))


def test_wrong_size_in_a_descriptor(tarball: Path, tmp_path: Path) -> None:
    top = _layer_names(tarball)[-1]
    # One byte more in the layer blob: its size no longer matches the manifest's descriptor.
    bad = tmp_path / "bad.tar"
    _rewrite(tarball, bad, lambda name, data: data + b"\0" if name == top else data)
    with pytest.raises(InvalidImageError, match=r"has \d+ bytes, its descriptor says \d+"):
        inspect_tarball(str(bad))


def test_missing_blob(tarball: Path, tmp_path: Path) -> None:
    first = _layer_names(tarball)[0]
    bad = tmp_path / "bad.tar"
    _rewrite(tarball, bad, lambda name, data: None if name == first else data)
    with pytest.raises(InvalidImageError, match=f"is missing: there is no {first}"):
        inspect_tarball(str(bad))


def test_not_a_tarball(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"hello")
    with pytest.raises(InvalidImageError, match="not a readable image tarball"):
        inspect_tarball(str(path))


def _image_with(tmp_path: Path, layers: list[dict[str, bytes]]) -> Path:
    b = RootfsBuilder()
    for number, files in enumerate(layers):
        b.layer(f"layer{number}", f"layer {number}")
        for path, data in files.items():
            b.add_data(path, data)
    out = tmp_path / "owned.tar"
    work = tmp_path / "work-owned"
    work.mkdir()
    write_image(
        layers=b.finish(),
        config=ImageConfig(architecture="amd64", entrypoint=("/app/app",)),
        reference=parse_reference("example/owned:1.0"),
        annotations={},
        output=out,
        workdir=work,
    )
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_files_are_checked_against_the_image_s_own_sbom(tmp_path: Path) -> None:
    binary, lib = b"\x7fELF app", b"\x7fELF lib"
    sbom = {
        "bomFormat": "CycloneDX",
        "components": [
            {
                "type": "application",
                "name": "app",
                "components": [
                    {
                        "type": "file",
                        "name": "/app/app",
                        "hashes": [{"alg": "SHA-256", "content": _sha256(binary)}],
                    },
                    {
                        "type": "file",
                        "name": "/app/libfoo.so.1",
                        "hashes": [{"alg": "SHA-256", "content": _sha256(b"other bytes")}],
                    },
                ],
            },
            {
                "type": "data",
                "name": "pybin2img-generated",
                "evidence": {"occurrences": [{"location": "/usr/share/pybin2img/sbom.cdx.json"}]},
            },
            {
                "type": "file",
                "name": "/etc/shadow",
                "description": "claimed by no component: no installed package owns it",
            },
        ],
    }
    tarball = _image_with(
        tmp_path,
        [
            {
                "app/app": binary,
                "app/libfoo.so.1": lib,
                "etc/passwd": b"root:x:0:0::/:\n",
                "etc/shadow": b"root:*::0:::::\n",
            },
            {"usr/share/pybin2img/sbom.cdx.json": json.dumps(sbom).encode()},
        ],
    )

    report = inspect_tarball(str(tarball))

    assert report.sbom is not None
    assert report.sbom.files == 5
    assert report.sbom.unclaimed == (
        ("/etc/passwd", "not in the SBOM"),
        ("/etc/shadow", "no installed package owns it"),
    )
    assert report.sbom.mismatched == ("/app/libfoo.so.1",)
    assert any("/app/libfoo.so.1 is not the file the SBOM lists" in w for w in report.warnings)
    text = format_report(report)
    assert "5 files, 2 claimed by no component" in text
    assert "unclaimed   /etc/passwd  (not in the SBOM)" in text
    assert report.to_json()["sbom"]["unclaimed"][0] == {
        "path": "/etc/passwd",
        "why": "not in the SBOM",
    }


def test_an_image_without_sbom_says_so(tarball: Path) -> None:
    report = inspect_tarball(str(tarball))
    assert report.sbom is None
    assert "none in the image" in format_report(report)


def test_whiteouts_hide_what_lower_layers_had() -> None:
    from pybin2img.oci.inspection import _apply_whiteout

    view: dict[str, str | bytes] = {"etc/a": "1", "etc/b/c": "2", "etc/bc": "3", "usr/x": "4"}
    _apply_whiteout(view, "etc/.wh.b")
    assert sorted(view) == ["etc/a", "etc/bc", "usr/x"]
    _apply_whiteout(view, "etc/.wh..wh..opq")
    assert sorted(view) == ["usr/x"]


def test_the_build_size_report_shows_data_by_directory() -> None:
    b = RootfsBuilder()
    b.layer("app", "the app")
    b.add_data("app/app", b"\x7fELF" + b"x" * 100, mode=0o755)
    b.add_data("app/wordcloud/stopwords", b"w" * 3000)
    b.add_data("app/matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf", b"f" * 2_000_000)
    written = SimpleNamespace(layers=[])
    lines = size_report(b.nodes, written)  # type: ignore[arg-type]
    assert lines[-1] == (
        "data by directory of /app (uncompressed): matplotlib 2.00 MB, wordcloud 0.00 MB"
    )
