from __future__ import annotations

import email.utils
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from pybin2img.errors import InvalidImageError, RegistryError
from pybin2img.registry import (
    RetryPolicy,
    is_plain_http_allowed,
    parse_challenges,
    parse_retry_after,
)
from pybin2img.registry.client import _BlobBody, _with_digest
from pybin2img.registry.transport import Connection, bypasses_proxy, registry_ca_files

DIGEST = "sha256:" + "ab" * 32


def test_bearer_challenge_with_quoted_commas() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:team/app:pull,push",error="insufficient_scope"'
    )
    assert parse_challenges(header) == {
        "bearer": {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:team/app:pull,push",
            "error": "insufficient_scope",
        }
    }


def test_several_challenges_and_bare_tokens() -> None:
    header = 'Basic realm="a \\"quoted\\" realm", Bearer realm=https://t.example/token ,service=s'
    assert parse_challenges(header) == {
        "basic": {"realm": 'a "quoted" realm'},
        "bearer": {"realm": "https://t.example/token", "service": "s"},
    }
    assert parse_challenges("Basic") == {"basic": {}}
    assert parse_challenges("") == {}


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after(date, now=2_000_000) == 0.0


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(delay=1.0, max_delay=5.0)
    assert [policy.wait_before(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.wait_before(1, 3.0) == 3.0


@pytest.mark.parametrize(
    ("registry", "insecure", "allowed"),
    [
        ("localhost:5000", (), True),
        ("127.0.0.1:5000", (), True),
        ("127.1.2.3", (), True),
        ("registry.example.com", (), False),
        ("registry.example.com:5000", ("registry.example.com",), True),
        ("registry.example.com:5000", ("registry.example.com:5000",), True),
        ("registry.example.com:5000", ("registry.example.com:6000",), False),
        ("10.0.0.5:5000", (), False),
        ("localhost.example.com", (), False),
    ],
)
def test_plain_http_only_for_loopback_and_insecure(
    registry: str, insecure: tuple[str, ...], allowed: bool
) -> None:
    assert is_plain_http_allowed(registry, insecure) is allowed


def test_no_proxy_matching() -> None:
    assert bypasses_proxy("reg.example.com", None, "example.com")
    assert bypasses_proxy("reg.example.com", None, ".example.com")
    assert bypasses_proxy("reg.example.com", 5000, "other, reg.example.com:5000")
    assert not bypasses_proxy("reg.example.com", 443, "reg.example.com:5000")
    assert not bypasses_proxy("notexample.com", None, "example.com")
    assert bypasses_proxy("anything", None, "*")
    assert not bypasses_proxy("anything", None, "")


def test_digest_is_added_to_the_upload_url_keeping_its_query() -> None:
    assert (
        _with_digest("https://r/v2/a/blobs/uploads/u1?_state=x%3D", DIGEST)
        == f"https://r/v2/a/blobs/uploads/u1?_state=x%3D&digest=sha256%3A{'ab' * 32}"
    )
    assert _with_digest("http://r/up/1", DIGEST) == f"http://r/up/1?digest=sha256%3A{'ab' * 32}"


def _truncated_member(tmp_path: Path, data: bytes) -> tuple[tarfile.TarFile, tarfile.TarInfo]:
    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("blobs/sha256/blob")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    os.truncate(path, 512 + len(data) // 2)  # the header, then half the member
    tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by the caller)
    member = tar.next()
    assert member is not None
    return tar, member


def test_a_truncated_blob_in_the_tarball_is_an_invalid_image(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    tar, member = _truncated_member(tmp_path, data)
    with tar:
        stream = tar.extractfile(member)
        assert stream is not None
        body = _BlobBody(stream, len(data), digest)
        with pytest.raises(InvalidImageError, match=r"cannot read blob sha256:"):
            _read_all(body)


def _read_all(body: _BlobBody) -> None:
    while body.read(4096):
        pass


class _Broken(io.BytesIO):
    """A stream whose read fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._error = error

    def read(self, _size: int | None = -1) -> bytes:
        raise self._error


def test_a_bug_while_reading_a_blob_is_not_taken_for_a_bad_tarball() -> None:
    body = _BlobBody(_Broken(RuntimeError("a bug")), 10, DIGEST)
    with pytest.raises(RuntimeError, match="a bug"):
        body.read()


def test_a_blob_whose_content_does_not_match_its_digest_is_corrupt() -> None:
    body = _BlobBody(io.BytesIO(b"0123456789"), 10, DIGEST)
    with pytest.raises(InvalidImageError, match="is corrupt"):
        body.read()


def test_registry_ca_files(tmp_path: Path) -> None:
    docker, containers = tmp_path / "docker", tmp_path / "containers"
    (docker / "reg:5000").mkdir(parents=True)
    (docker / "reg:5000" / "ca.crt").write_text("docker")
    (docker / "reg:5000" / "client.key").write_text("not a CA")
    (containers / "reg:5000").mkdir(parents=True)
    (containers / "reg:5000" / "b.crt").write_text("b")
    (containers / "reg:5000" / "a.crt").write_text("a")
    extra = tmp_path / "mine.pem"
    assert registry_ca_files("reg:5000", [extra], certs_dirs=[docker, containers]) == (
        extra,
        docker / "reg:5000/ca.crt",
        containers / "reg:5000/a.crt",
        containers / "reg:5000/b.crt",
    )
    assert registry_ca_files("reg", certs_dirs=[docker, containers]) == ()


def test_extra_ca_must_be_pem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate")
    with pytest.raises(RegistryError, match=r"bad.crt holds no PEM certificate"):
        Connection(verify=True, timeout=1, proxy_env={}, extra_ca=[str(bad)])
