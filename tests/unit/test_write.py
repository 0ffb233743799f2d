from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from pybin2img.errors import ImageWriteError
from pybin2img.log import Log
from pybin2img.oci.documents import ImageConfig
from pybin2img.oci.write import write_image
from pybin2img.plan.rootfs import RootfsBuilder
from pybin2img.reference import parse_reference


def _layers(src: Path) -> tuple:
    b = RootfsBuilder()
    b.layer("base", "base files")
    b.add_dir("tmp", mode=0o1777)
    b.add_data("etc/passwd", b"root:x:0:0::/:/sbin/nologin\n")
    b.layer("app", "the app")
    b.add_file("app/hello", str(src / "hello"))
    b.add_file("app/data.txt", str(src / "data.txt"))
    b.add_symlink("app/link", "data.txt")
    return b.finish()


def _inputs(dir: Path, mtime: int) -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "data.txt").write_text("data\n")
    (dir / "hello").write_bytes(b"\x7fELF" + b"\0" * 100)
    os.chmod(dir / "hello", 0o700)
    for p in dir.iterdir():
        os.utime(p, (mtime, mtime))
    return dir


def _write(tmp: Path, name: str, src: Path) -> Path:
    out = tmp / f"{name}.tar"
    work = tmp / f"work-{name}"
    work.mkdir()
    write_image(
        layers=_layers(src),
        config=ImageConfig(architecture="amd64", entrypoint=("/app/hello",), created=1700000000),
        reference=parse_reference("example/app:1.0"),
        annotations={"org.opencontainers.image.created": "2023-11-14T22:13:20Z"},
        output=out,
        workdir=work,
    )
    return out


def test_tarball_layout_and_digests(tmp_path: Path) -> None:
    out = _write(tmp_path, "a", _inputs(tmp_path / "src", 1))
    with tarfile.open(out) as tar:
        names = tar.getnames()
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert names[:2] == ["blobs", "blobs/sha256"]
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert all(not n.startswith(("/", "./")) for n in names)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    (desc,) = index["manifests"]
    assert desc["annotations"] == {
        "io.containerd.image.name": "docker.io/example/app:1.0",
        "org.opencontainers.image.ref.name": "1.0",
    }
    manifest = json.loads(files["blobs/sha256/" + desc["digest"].split(":")[1]])
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    (docker,) = json.loads(files["manifest.json"])
    assert docker["RepoTags"] == ["docker.io/example/app:1.0"]
    assert docker["Config"] == "blobs/sha256/" + manifest["config"]["digest"].split(":")[1]
    assert docker["Layers"] == [
        "blobs/sha256/" + layer["digest"].split(":")[1] for layer in manifest["layers"]
    ]
    assert (
        len(config["history"]) == len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 2
    )
    assert config["created"] == "2023-11-14T22:13:20Z"
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=False):
        blob = files["blobs/sha256/" + layer["digest"].split(":")[1]]
        assert layer["size"] == len(blob)
        assert blob[:3] == b"\x1f\x8b\x08"
        assert blob[3] == 0  # no flags: no FNAME
        assert blob[4:8] == b"\0\0\0\0"  # mtime 0
        assert blob[9] == 0xFF  # OS unknown: same header on every platform
        raw = gzip.decompress(blob)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
    app_layer = gzip.decompress(
        files["blobs/sha256/" + manifest["layers"][1]["digest"].split(":")[1]]
    )
    with tarfile.open(fileobj=io.BytesIO(app_layer)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app", "app/data.txt", "app/hello", "app/link"]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
        (0, 0, "", "", 1700000000)
    }
    modes = {m.name: m.mode for m in members}
    assert modes["app/hello"] == 0o755
    assert modes["app/data.txt"] == 0o644


def test_same_inputs_give_identical_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _write(tmp_path, "a", _inputs(tmp_path / "src1", 1))
    old = os.umask(0o077)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.chdir(tmp_path)
    try:
        second = _write(tmp_path, "b", _inputs(tmp_path / "src2", 2_000_000_000))
    finally:
        os.umask(old)
    # Different source directories: only the file contents matter.
    assert first.read_bytes() == second.read_bytes()


def test_missing_output_directory_is_created(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir" / "x.tar"
    _write_to(out, tmp_path)
    assert tarfile.is_tarfile(out)
    assert [p.name for p in out.parent.iterdir()] == ["x.tar"]


def test_unwritable_output_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ImageWriteError, match="cannot write"):
        _write_to(tmp_path / "file" / "x.tar", tmp_path)
    assert (tmp_path / "file").read_text() == ""


def _write_to(out: Path, tmp: Path) -> None:
    src = _inputs(tmp / "src", 1)
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    write_image(
        layers=_layers(src),
        config=ImageConfig(architecture="amd64", entrypoint=("/app/hello",)),
        reference=parse_reference("x"),
        annotations={},
        output=out,
        workdir=work,
    )


def test_parallel_gzip_is_one_valid_stream_whatever_the_threads(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pybin2img.oci.write import GZIP_BLOCK, compress

    source = tmp_path / "layer.tar"
    # Several blocks, partly compressible, the last one short.
    chunk = bytes(range(256)) * 1024 + os.urandom(4096)
    source.write_bytes(chunk * (3 * GZIP_BLOCK // len(chunk) + 1))
    single = compress(source, tmp_path / "one.gz", "gzip")
    with ThreadPoolExecutor(3) as pool:
        threaded = compress(source, tmp_path / "many.gz", "gzip", pool, 3)
    assert single == threaded
    assert (tmp_path / "one.gz").read_bytes() == (tmp_path / "many.gz").read_bytes()
    assert gzip.decompress((tmp_path / "many.gz").read_bytes()) == source.read_bytes()
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    compress(empty, tmp_path / "empty.gz", "gzip")
    assert gzip.decompress((tmp_path / "empty.gz").read_bytes()) == b""


def test_parallel_gzip_keeps_four_blocks_per_job_in_flight(tmp_path: Path) -> None:
    """The job count passed in bounds the blocks held in memory (not the pool's internals)."""
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import Any

    from pybin2img.oci.write import GZIP_BLOCK, compress

    class Counting(ThreadPoolExecutor):
        def __init__(self) -> None:
            super().__init__(8)  # more threads than the job count given below
            self.pending = self.most = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            self.pending += 1
            self.most = max(self.most, self.pending)
            future = super().submit(fn, *args, **kwargs)
            result = future.result

            def counted(timeout: float | None = None) -> Any:
                self.pending -= 1
                return result(timeout)

            future.result = counted  # type: ignore[method-assign]
            return future

    source = tmp_path / "layer.tar"
    source.write_bytes(os.urandom(1024) * (20 * GZIP_BLOCK // 1024))
    with Counting() as pool:
        compress(source, tmp_path / "out.gz", "gzip", pool, 2)
    assert pool.most == 8


def _write_cached(tmp: Path, name: str, src: Path, blobs: Path, log: Log) -> Path:
    out = tmp / f"{name}.tar"
    work = tmp / f"work-{name}"
    work.mkdir()
    write_image(
        layers=_layers(src),
        config=ImageConfig(architecture="amd64", entrypoint=("/app/hello",), created=1),
        reference=parse_reference("example/app:1.0"),
        annotations={},
        output=out,
        workdir=work,
        blob_cache=blobs,
        log=log,
    )
    return out


def test_a_damaged_cached_blob_is_compressed_again_with_one_warning(tmp_path: Path) -> None:
    src = _inputs(tmp_path / "src", 1)
    blobs = tmp_path / "blobs"
    clean = _write_cached(tmp_path, "clean", src, blobs, Log(stream=io.StringIO()))
    (blob,) = [p for p in blobs.rglob("*") if p.is_file() and p.suffix != ".json"][-1:]
    st = blob.stat()
    data = bytearray(blob.read_bytes())
    data[20] ^= 0xFF  # one byte: same size, same mtime
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = io.StringIO()
    healed = _write_cached(tmp_path, "healed", src, blobs, Log(stream=out))
    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith(f"pybin2img: warning: cached layer blob {blob} is damaged")
    assert healed.read_bytes() == clean.read_bytes()
    quiet = io.StringIO()
    again = _write_cached(tmp_path, "again", src, blobs, Log(stream=quiet))
    assert quiet.getvalue() == "", "the blob in the cache is good again"
    assert again.read_bytes() == clean.read_bytes()


def test_a_blob_that_changes_while_it_is_copied_is_never_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last check: each blob is hashed as it goes into the tarball."""
    from pybin2img.oci import write

    src = _inputs(tmp_path / "src", 1)
    blobs = tmp_path / "blobs"

    def hashing_corrupt(self: write._HashingReader, size: int = -1) -> bytes:
        data = self.f.read(size)
        if data:
            data = data[:-1] + bytes([data[-1] ^ 1])
        self.hash.update(data)
        return data

    monkeypatch.setattr(write._HashingReader, "read", hashing_corrupt)
    with pytest.raises(ImageWriteError, match="changed while it was copied"):
        _write_cached(tmp_path, "x", src, blobs, Log(stream=io.StringIO()))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".x.tar", "x.tar"))]


def test_zstd_is_the_same_whatever_the_threads_and_each_level_its_own(tmp_path: Path) -> None:
    import zstandard

    from pybin2img.oci.write import compress

    source = tmp_path / "layer.tar"
    source.write_bytes((bytes(range(256)) * 64 + os.urandom(512)) * 600)
    one = compress(source, tmp_path / "one.zst", "zstd", None, 1, 19)
    three = compress(source, tmp_path / "three.zst", "zstd", None, 3, 19)
    assert one == three
    assert one.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert compress(source, tmp_path / "low.zst", "zstd", None, 2, 1).digest != one.digest
    default = compress(source, tmp_path / "default.zst", "zstd", None, 2)
    assert default == compress(source, tmp_path / "nine.zst", "zstd", None, 1, 9)
    for name in ("one.zst", "low.zst", "default.zst"):
        data = (tmp_path / name).read_bytes()
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            assert reader.read() == source.read_bytes()


@pytest.mark.parametrize(
    ("compression", "level", "error"),
    [
        ("gzip", 0, "gzip has no level 0; its levels are 1 to 9"),
        ("gzip", 10, "gzip has no level 10; its levels are 1 to 9"),
        ("zstd", 20, "zstd has no level 20; its levels are 1 to 19"),
        ("xz", None, "unknown compression 'xz'"),
    ],
)
def test_levels_outside_a_compressions_are_refused(
    compression: str, level: int | None, error: str
) -> None:
    from pybin2img.oci.write import checked_level

    with pytest.raises(ImageWriteError) as exc:
        checked_level(compression, level)
    assert str(exc.value) == error


def test_defaults_and_the_blob_cache_keeps_each_level_apart(tmp_path: Path) -> None:
    from pybin2img.oci.write import checked_level

    assert checked_level("gzip") == 6
    assert checked_level("zstd") == 9
    src = _inputs(tmp_path / "src", 1)
    blobs = tmp_path / "blobs"
    digests = {}
    for level in (1, 19, None):
        work = tmp_path / f"work-{level}"
        work.mkdir()
        written = write_image(
            layers=_layers(src),
            config=ImageConfig(architecture="amd64", entrypoint=("/app/hello",), created=1),
            reference=parse_reference("example/app:1.0"),
            annotations={},
            output=tmp_path / f"{level}.tar",
            workdir=work,
            compression="zstd",
            compression_level=level,
            blob_cache=blobs,
        )
        digests[level] = written.manifest_digest
    assert len(set(digests.values())) == 3
    names = sorted(p.name for p in blobs.iterdir())
    assert [name.split("-mt-")[0] for name in names] == ["zstd-1", "zstd-19", "zstd-9"]
