"""Pushing image tarballs to registries: real ones started by ci/start-registry.sh (open on
127.0.0.1:5000, htpasswd Basic auth on :5001), a throwaway one killed mid-push, and a stub for
token servers, redirects and failures a real registry does not produce on demand.

The images hold a statically linked C program, so no Nuitka compile is needed.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from pybin2img.errors import InvalidImageError, RegistryError, UsageError
from pybin2img.log import Log
from pybin2img.oci.archive import Archive, open_archive
from pybin2img.reference import parse_reference
from pybin2img.registry import RegistryOptions, RetryPolicy
from pybin2img.registry.credentials import Credentials
from pybin2img.ship.push import PushOptions, PushResult, push_image
from tests.conftest import require
from tests.imagegen import write_test_image
from tests.integration.conftest import RUN_ID, docker, pybin2img
from tests.integration.stubregistry import Fault, Storage, StubRegistry, serve

pytestmark = pytest.mark.integration

BASIC = "127.0.0.1:5001"
REGISTRY_DIR = Path(os.environ.get("PYBIN2IMG_REGISTRY_DIR", "/var/lib/pybin2img-registry"))
#: Retries without waiting: the tests check that retries happen, not how long they take.
FAST = RetryPolicy(attempts=3, delay=0.01, max_delay=0.05)

HELLO_C = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    char msg[256] = "";
    FILE *f = fopen("/app/msg.txt", "r");
    if (f) { fgets(msg, sizeof msg, f); fclose(f); }
    printf("hello from a pushed image: %s", msg);
    for (int i = 1; i < argc; i++) printf("arg: %s\n", argv[i]);
    return 0;
}
"""


# --- fixtures ----------------------------------------------------------------------------------


def _status(hostport: str) -> int | None:
    try:
        return requests.get(f"http://{hostport}/v2/", timeout=3).status_code
    except requests.RequestException:
        return None


@dataclass(frozen=True)
class Account:
    registry: str
    user: str
    password: str


@pytest.fixture(scope="module")
def basic_registry() -> Account:
    credentials = REGISTRY_DIR / "credentials"
    require(
        _status(BASIC) == 401 and credentials.is_file(),
        f"no Basic-auth registry on {BASIC} with {credentials} (run ci/start-registry.sh)",
    )
    user, _, password = credentials.read_text().strip().partition(":")
    return Account(registry=BASIC, user=user, password=password)


@dataclass(frozen=True)
class Images:
    hello: Path  # the static binary
    a: Path  # message "one"
    b: Path  # the same, but the top layer (the app's data) says "two"
    a_digest: str
    b_top_layer: str
    a_sizes: int  # every blob of a: layers + config


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    require(shutil.which("gcc"), "gcc not installed")
    work = tmp_path_factory.mktemp("push-images")
    (work / "hello.c").write_text(HELLO_C)
    subprocess.run(
        ["gcc", "-static", "-Os", "-o", str(work / "hello"), str(work / "hello.c")], check=True
    )

    def write(name: str, message: bytes) -> Any:
        return write_test_image(
            work / f"{name}.tar",
            [
                {"etc/passwd": b"root:x:0:0::/:/sbin/nologin\n"},
                {"app/hello": work / "hello"},
                {"app/msg.txt": message},
            ],
        )

    a, b = write("a", b"one\n"), write("b", b"two\n")
    assert a.layers[:2] == b.layers[:2]
    assert a.layers[2] != b.layers[2]
    return Images(
        hello=work / "hello",
        a=a.path,
        b=b.path,
        a_digest=a.manifest_digest,
        b_top_layer=b.layers[2].descriptor.digest,
        a_sizes=sum(layer.descriptor.size for layer in a.layers) + len(a.config),
    )


def _push(
    tarball: Path,
    reference: str,
    *,
    mount_from: str | None = None,
    extra_tags: tuple[str, ...] = (),
    **registry: Any,
) -> PushResult:
    registry.setdefault("retry", FAST)
    return push_image(
        tarball,
        parse_reference(reference),
        registry=RegistryOptions(environ={"PATH": os.environ.get("PATH", "")}, **registry),
        options=PushOptions(mount_from=mount_from, extra_tags=extra_tags),
        log=Log(verbosity=-1),
    )


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for the CLI, with a Docker config of the test's own (empty unless
    written), never the machine's."""
    config = tmp_path / "docker-config"
    config.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "DOCKER_CONFIG": str(config), **extra}


def _skopeo_digest(reference: str, *extra: str) -> str:
    require(shutil.which("skopeo"), "skopeo not installed")
    proc = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{reference}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(proc.stdout)["Digest"])


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pybin2img: error: "), lines[0]
    assert text in lines[0], lines[0]


# --- a real registry ---------------------------------------------------------------------------


def test_push_then_docker_pull_runs_it_and_skopeo_agrees(
    open_registry: str, images: Images, docker_engine: Any, tmp_path: Path
) -> None:
    reference = f"{open_registry}/pybin2img-test/static-{RUN_ID}:1"
    metadata = tmp_path / "out" / "push.json"
    proc = pybin2img(
        "push",
        str(images.a),
        reference,
        "--metadata-file",
        str(metadata),
        env=_cli_env(tmp_path),
    )
    assert proc.stdout == f"{reference}@{images.a_digest}\n"
    document = json.loads(metadata.read_text())
    assert document["digest"] == images.a_digest
    assert document["tags"] == ["1"]
    assert {blob["action"] for blob in document["blobs"]} == {"uploaded"}
    assert document["bytes_uploaded"] == images.a_sizes
    assert document["bytes_skipped"] == 0

    assert _skopeo_digest(reference) == images.a_digest
    docker("pull", reference)
    try:
        run = docker("run", "--rm", reference, "x y")
        assert run.stdout == "hello from a pushed image: one\narg: x y\n"
    finally:
        docker("rmi", "-f", reference, check=False)


def test_repush_uploads_nothing_and_an_app_change_only_the_top_layer(
    open_registry: str, images: Images
) -> None:
    reference = f"{open_registry}/pybin2img-test/layers-{RUN_ID}:1"
    first = _push(images.a, reference)
    again = _push(images.a, reference)
    changed = _push(images.b, reference)

    assert first.bytes_uploaded == images.a_sizes
    assert again.bytes_uploaded == 0
    assert {blob.action for blob in again.blobs} == {"exists"}
    assert again.digest == first.digest == images.a_digest
    uploaded = [(blob.kind, blob.digest) for blob in changed.blobs if blob.action == "uploaded"]
    assert uploaded == [("layer", images.b_top_layer), ("config", changed.blobs[-1].digest)]
    assert _skopeo_digest(reference) == changed.digest
    print(
        f"\nbytes uploaded: first push {first.bytes_uploaded}, re-push {again.bytes_uploaded}, "
        f"app-only change {changed.bytes_uploaded} of {images.a_sizes}"
    )


def test_mount_from_another_repository_uploads_nothing(open_registry: str, images: Images) -> None:
    source = f"pybin2img-test/mount-src-{RUN_ID}"
    _push(images.a, f"{open_registry}/{source}:1")
    target = f"{open_registry}/pybin2img-test/mount-dst-{RUN_ID}:1"
    result = _push(images.a, target, mount_from=source)
    assert {blob.action for blob in result.blobs} == {"mounted"}
    assert result.bytes_uploaded == 0
    assert _skopeo_digest(target) == result.digest


def test_wrong_password_is_one_clear_line_and_exit_code_8(
    basic_registry: Account, images: Images, tmp_path: Path
) -> None:
    proc = pybin2img(
        "push",
        str(images.a),
        f"{basic_registry.registry}/pybin2img-test/auth-{RUN_ID}:1",
        "--username",
        basic_registry.user,
        "--password-stdin",
        input="not-the-password\n",
        env=_cli_env(tmp_path),
        check=False,
    )
    _assert_one_line_error(
        proc, RegistryError.exit_code, f"authentication to {basic_registry.registry} failed"
    )
    no_credentials = pybin2img(
        "push",
        str(images.a),
        f"{basic_registry.registry}/pybin2img-test/auth-{RUN_ID}:1",
        env=_cli_env(tmp_path),
        check=False,
    )
    _assert_one_line_error(no_credentials, RegistryError.exit_code, "requires authentication")


def test_basic_auth_from_flags_config_json_and_a_credential_helper(
    basic_registry: Account, images: Images, tmp_path: Path
) -> None:
    account = basic_registry
    reference = f"{account.registry}/pybin2img-test/auth-{RUN_ID}:1"
    pinned = f"{reference}@{images.a_digest}\n"

    flags = pybin2img(
        "push",
        str(images.a),
        reference,
        "--username",
        account.user,
        "--password-stdin",
        input=account.password + "\n",
        env=_cli_env(tmp_path / "flags"),
    )
    assert flags.stdout == pinned

    config_dir = tmp_path / "config"
    config_dir.mkdir()
    auth = base64.b64encode(f"{account.user}:{account.password}".encode()).decode()
    env = _cli_env(config_dir)
    Path(env["DOCKER_CONFIG"], "config.json").write_text(
        json.dumps({"auths": {f"http://{account.registry}": {"auth": auth}}})
    )
    assert pybin2img("push", str(images.a), reference, env=env).stdout == pinned

    helper_dir = tmp_path / "helper"
    (helper_dir / "bin").mkdir(parents=True)
    helper = helper_dir / "bin" / "docker-credential-test"
    answer = json.dumps(
        {"ServerURL": account.registry, "Username": account.user, "Secret": account.password}
    )
    helper.write_text(
        "#!/bin/sh\n"
        "read server\n"
        f'if [ "$1" != get ] || [ "$server" != "{account.registry}" ]; then\n'
        '  echo "credentials not found in native keychain"; exit 1\n'
        "fi\n"
        f"echo {shlex.quote(answer)}\n"
    )
    helper.chmod(0o755)
    env = _cli_env(helper_dir, PATH=f"{helper_dir / 'bin'}:{os.environ['PATH']}")
    Path(env["DOCKER_CONFIG"], "config.json").write_text(
        json.dumps({"credHelpers": {account.registry: "test"}})
    )
    assert pybin2img("push", str(images.a), reference, env=env).stdout == pinned

    creds = f"{account.user}:{account.password}"
    assert _skopeo_digest(reference, "--creds", creds) == images.a_digest


def test_usage_errors_fail_before_any_network(tmp_path: Path, images: Images) -> None:
    env = _cli_env(tmp_path)
    cases = [
        (("push", str(tmp_path / "nope.tar"), "127.0.0.1:9/a:1"), "does not exist"),
        (("push", str(images.a), "127.0.0.1:9/a:1", "--username", "u"), "go together"),
        (("push", str(images.a), "127.0.0.1:9/A:1"), "invalid image reference"),
        (("push", str(images.a), "127.0.0.1:9/a:1", "--tag", "-x"), "tag '-x' must be"),
        (("push", str(images.a), "127.0.0.1:9/a:1", "--mount-from", "b:1"), "not a tag"),
        (("build", str(tmp_path / "app.py"), "-t", "x", "--mount-from", "y"), "need --push"),
    ]
    for args, text in cases:
        proc = pybin2img(*args, env=env, check=False, input="")
        _assert_one_line_error(proc, UsageError.exit_code, text)


# --- a registry stopped mid-push ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayRegistry:
    """A docker-registry of the test's own, on a free port, that the test may kill."""

    def __init__(self, root: Path) -> None:
        self.address = f"127.0.0.1:{_free_port()}"
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True)
        (root / "config.yml").write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {root / 'storage'}}}}}\n"
            f"http: {{addr: '{self.address}', secret: throwaway}}\n"
        )

    def start(self) -> None:
        with (self.root / "log").open("ab") as log:
            self.proc = subprocess.Popen(
                ["docker-registry", "serve", str(self.root / "config.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        while _status(self.address) != 200:
            assert self.proc.poll() is None, (self.root / "log").read_text()
            assert time.monotonic() < deadline, "the throwaway registry did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def throwaway_registry(tmp_path: Path) -> Iterator[ThrowawayRegistry]:
    require(shutil.which("docker-registry"), "docker-registry not installed")
    registry = ThrowawayRegistry(tmp_path / "registry")
    registry.start()
    try:
        yield registry
    finally:
        registry.kill()


class _KillAfter:
    """A blob stream that kills the registry once ``limit`` bytes have been read from it."""

    def __init__(self, stream: IO[bytes], limit: int, kill: Any) -> None:
        self.stream, self.limit, self.kill, self.read_so_far = stream, limit, kill, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.read_so_far += len(data)
        if self.read_so_far >= self.limit:
            self.kill()
        return data


def test_registry_stopped_mid_push_fails_cleanly_and_a_retry_succeeds(
    throwaway_registry: ThrowawayRegistry,
    images: Images,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = throwaway_registry
    reference = f"{registry.address}/app:1"
    before = _push(images.a, reference)
    big = write_test_image(
        tmp_path / "big.tar",
        [
            {"etc/passwd": b"root:x:0:0::/:/sbin/nologin\n"},
            {"app/hello": images.hello},
            {"app/data.bin": os.urandom(8 << 20)},  # incompressible: 8 MiB on the wire
            {"app/msg.txt": b"two\n"},
        ],
    )
    big_layer = big.layers[2].descriptor.digest
    open_blob = Archive.open_blob

    def killing_open_blob(archive: Archive, descriptor: Any, what: str = "blob") -> Any:
        stream = open_blob(archive, descriptor, what)
        if descriptor.digest == big_layer:
            return _KillAfter(stream, 1 << 20, registry.kill)
        return stream

    monkeypatch.setattr(Archive, "open_blob", killing_open_blob)
    with pytest.raises(RegistryError) as failure:
        _push(big.path, reference)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith(f"uploading blob {big_layer[:19]}"), message
    assert "gave up after 3 attempts" in message, message
    monkeypatch.undo()

    registry.start()
    # The tag still names the image it named before the failed push.
    assert _skopeo_digest(reference) == before.digest
    retry = _push(big.path, reference)
    actions = {blob.digest: blob.action for blob in retry.blobs}
    assert [actions[layer.descriptor.digest] for layer in big.layers] == [
        "exists",
        "exists",
        "uploaded",
        "uploaded",
    ]
    assert _skopeo_digest(reference) == retry.digest == big.manifest_digest


# --- a stub registry: token server, redirects, failures on demand ------------------------------


@pytest.fixture
def stub() -> Iterator[StubRegistry]:
    registry = StubRegistry()
    with serve(registry) as url:
        registry.url = url
        yield registry


def _stub_reference(stub: StubRegistry) -> str:
    return f"{stub.url.removeprefix('http://')}/team/app:1"


def test_bearer_token_renewed_mid_push_and_no_authorization_on_redirects(
    stub: StubRegistry, images: Images
) -> None:
    stub.bearer_user = ("ann", "s3cret")
    stub.expire_tokens_after_uploads = 1  # the first token dies after the first upload
    storage = Storage()
    with _archive_blobs(images.a) as blobs, serve(storage) as storage_url:
        redirected = blobs[0]
        stub.redirect_heads = {redirected: storage_url}
        result = _push(
            images.a,
            _stub_reference(stub),
            credentials=Credentials(username="ann", password="s3cret", source="test"),
            extra_tags=("latest",),
        )
    assert result.digest == images.a_digest
    assert stub.tokens_issued == 2
    # The storage host got no Authorization; the registry got the token for the same HEAD.
    assert storage.authorizations == [None]
    head = next(s for s in stub.seen if s.method == "HEAD" and s.path.endswith(redirected))
    assert head.authorization == "Bearer tok1"
    assert [s.authorization for s in stub.seen if s.method == "PUT"][-3:] == ["Bearer tok2"] * 3
    # By digest first, then each tag; the manifest bytes are the tarball's own.
    manifest_puts = [s.path.rsplit("/", 1)[1] for s in stub.seen if "/manifests/" in s.path]
    assert manifest_puts == [images.a_digest, "1", "latest"]
    assert stub.manifests["1"] == stub.manifests[images.a_digest]
    assert {blob.action for blob in result.blobs} == {"exists", "uploaded"}


def test_transient_failures_are_retried_with_backoff_and_retry_after(
    stub: StubRegistry, images: Images
) -> None:
    stub.faults = [
        Fault("HEAD", "/blobs/", 429, {"Retry-After": "2"}),
        Fault("POST", "/blobs/uploads/", 503),
        Fault("PUT", "/blobs/uploads/", 0),  # the connection drops mid-upload
        Fault("PUT", "/manifests/", 502),
    ]
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=3, delay=0.01, max_delay=5, sleep=sleeps.append)
    result = _push(images.a, _stub_reference(stub), retry=policy)
    assert result.digest == images.a_digest
    assert result.bytes_uploaded == images.a_sizes
    # Retry-After wins over the backoff; the 503 and the dropped PUT are two failures of one
    # blob's upload, so the second wait doubles.
    assert sleeps == [2.0, 0.01, 0.02, 0.01]
    assert stub.faults == []


def test_retries_are_bounded_and_a_failed_push_tags_nothing(
    stub: StubRegistry, images: Images
) -> None:
    stub.faults = [Fault("PUT", "/blobs/uploads/", 503, times=99)]
    with pytest.raises(RegistryError, match=r"503 Service Unavailable.*gave up after 3 attempts"):
        _push(images.a, _stub_reference(stub))
    assert stub.manifests == {}

    stub.faults = [Fault("HEAD", "/blobs/", 429, {"Retry-After": "3600"})]
    with pytest.raises(RegistryError, match="asks to wait 3600s"):
        _push(images.a, _stub_reference(stub))
    assert stub.manifests == {}


def test_refused_monolithic_upload_falls_back_to_chunks_of_the_minimum_length(
    stub: StubRegistry, images: Images
) -> None:
    stub.refuse_monolithic = True
    stub.chunk_min_length = 65536
    result = _push(images.a, _stub_reference(stub), chunk_size=1000)
    assert result.digest == images.a_digest
    patches = [s for s in stub.seen if s.method == "PATCH"]
    short = [p for p in patches if p.length != 65536]
    # Every chunk has the registry's minimum length but the last of each of the 4 blobs.
    assert len(short) == 4
    assert all(p.length < 65536 for p in short)
    assert len(patches) > 4
    assert set(stub.blobs) == {blob.digest for blob in result.blobs}


def test_corrupt_blob_in_the_tarball_fails_before_anything_is_tagged(
    stub: StubRegistry, images: Images, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.tar"
    shutil.copy(images.a, corrupt)
    with _archive_blobs(images.a) as blobs, tarfile.open(images.a) as tar:
        member = tar.getmember("blobs/" + blobs[1].replace(":", "/"))
        offset = member.offset_data + member.size // 2
    with corrupt.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(InvalidImageError, match=rf"layer blob {blobs[1]} is corrupt"):
        _push(corrupt, _stub_reference(stub))
    assert stub.manifests == {}
    assert blobs[1] not in stub.blobs


@contextmanager
def _archive_blobs(tarball: Path) -> Iterator[list[str]]:
    """The digests of the tarball's blobs, in push order."""
    with open_archive(tarball) as archive:
        digests = [layer.descriptor.digest for layer in archive.layers]
        yield list(dict.fromkeys([*digests, archive.config_descriptor.digest]))
