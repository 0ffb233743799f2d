"""Release outputs checked by the tools users run: signatures (verified by containers/image:
Debian 13's skopeo under a ``sigstoreSigned`` policy), the SBOM attachment and its referrers
index (the registry's own API), an image index of two platforms (skopeo, podman load, docker
pull and run), podman's auth.json written by ``podman login``, and a registry served over TLS
with a CA this module makes.

Debian 12's skopeo 1.9.3 and podman 4.3.1 are built from golang-github-containers-image
5.23.1-4, which patches sigstore verification out ("Debian-local change: sigstore disabled").
Debian 13's skopeo 1.18 (containers/image 5.34) verifies cosign's signatures: it runs from the
cached Debian 13 root (tests/roots.py), on this machine's network, against the local registry.
openssl's check of the signature (:func:`cosign_verify`) stays as a check of the format.

Only one build runs here (``build --push``), and it reuses the compile of the session's hello
image; the other images are written by tests/imagegen.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from pybin2img.log import Log
from pybin2img.reference import parse_reference
from pybin2img.registry import RegistryOptions
from pybin2img.ship.push import push_image
from tests.conftest import require
from tests.imagegen import write_test_image
from tests.integration.conftest import EXAMPLES, RUN_ID, BuiltImage, docker, pybin2img
from tests.integration.conftest import OPEN_REGISTRY as OPEN
from tests.roots import WORK_IN_ROOT, RootError, debian_root, run_in_root

pytestmark = [pytest.mark.integration, pytest.mark.debian_roots("trixie")]

PASSWORD = "release-test"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("release")


@pytest.fixture(scope="module")
def key(work: Path) -> Path:
    """A key pair made by ``pybin2img generate-key``; returns the private key's path."""
    proc = pybin2img(
        "generate-key", str(work / "cosign"), env={**os.environ, "COSIGN_PASSWORD": PASSWORD}
    )
    assert proc.stdout.strip() == str(work / "cosign.pub")
    return work / "cosign.key"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "COSIGN_PASSWORD": PASSWORD, **extra}


def _tool(name: str) -> str:
    path = shutil.which(name)
    require(path, f"{name} not installed (ci/install-system-packages.sh)")
    assert path is not None
    return path


# --- what a cosign verifier checks, with openssl as the cryptography -------------------------


def _get(registry: str, repository: str, what: str, accept: str = "") -> bytes:
    response = requests.get(
        f"http://{registry}/v2/{repository}/{what}", headers={"Accept": accept}, timeout=10
    )
    response.raise_for_status()
    return response.content


def _manifest(registry: str, repository: str, reference: str) -> dict[str, Any]:
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
    return json.loads(_get(registry, repository, f"manifests/{reference}", accept))


def cosign_verify(registry: str, repository: str, digest: str, public: Path, tmp: Path) -> bool:
    """cosign's check of a key signature (``verify --key --insecure-ignore-tlog``): some layer
    under ``sha256-<hex>.sig`` is a simple-signing payload for this digest and repository
    whose signature openssl verifies with the public key."""
    try:
        manifest = _manifest(registry, repository, digest.replace(":", "-") + ".sig")
    except requests.HTTPError:
        return False
    for layer in manifest["layers"]:
        payload = _get(registry, repository, f"blobs/{layer['digest']}")
        signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        (tmp / "payload").write_bytes(payload)
        (tmp / "signature").write_bytes(signature)
        proc = subprocess.run(
            [
                _tool("openssl"),
                "dgst",
                "-sha256",
                "-verify",
                str(public),
                "-signature",
                str(tmp / "signature"),
                str(tmp / "payload"),
            ],
            capture_output=True,
            text=True,
        )
        critical = json.loads(payload)["critical"]
        if (
            proc.returncode == 0
            and "Verified OK" in proc.stdout
            and layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
            and critical["type"] == "cosign container image signature"
            and critical["image"]["docker-manifest-digest"] == digest
            and critical["identity"]["docker-reference"] == f"{registry}/{repository}"
        ):
            return True
    return False


@pytest.fixture(scope="module")
def verifier() -> Path:
    """The Debian 13 root, whose skopeo verifies sigstore signatures."""
    require(os.geteuid() == 0, "debootstrap roots need root")
    try:
        return debian_root("trixie")
    except RootError as exc:
        pytest.fail(f"the trixie root (skopeo 1.18) could not be made: {exc}")


def skopeo_policy_copy(
    root: Path, reference: str, public: Path, tmp: Path
) -> subprocess.CompletedProcess[str]:
    """Debian 13's ``skopeo copy`` under a policy that requires a sigstore signature by
    ``public`` (into ``dir:``: an ``oci:`` destination refuses to store signatures)."""
    verify = tmp / "verify"
    shutil.rmtree(verify, ignore_errors=True)
    (verify / "registries.d").mkdir(parents=True)
    (verify / "registries.d" / "local.yaml").write_text(
        f"docker:\n  {OPEN}:\n    use-sigstore-attachments: true\n"
    )
    shutil.copyfile(public, verify / "cosign.pub")
    requirement = {
        "type": "sigstoreSigned",
        "keyPath": f"{WORK_IN_ROOT}/cosign.pub",
        "signedIdentity": {"type": "matchRepository"},
    }
    (verify / "policy.json").write_text(
        json.dumps(
            {"default": [{"type": "reject"}], "transports": {"docker": {OPEN: [requirement]}}}
        )
    )
    return run_in_root(
        root,
        [
            "skopeo",
            "--policy",
            f"{WORK_IN_ROOT}/policy.json",
            "--registries.d",
            f"{WORK_IN_ROOT}/registries.d",
            "copy",
            "--src-tls-verify=false",
            f"docker://{reference}",
            f"dir:{WORK_IN_ROOT}/copied",
        ],
        binds={str(verify): WORK_IN_ROOT},
        timeout=120,
    )


def test_the_verifier_is_an_unpatched_containers_image(verifier: Path) -> None:
    version = run_in_root(verifier, ["skopeo", "--version"])
    assert version.returncode == 0, version.stderr
    major, minor = (int(n) for n in version.stdout.split()[2].split(".")[:2])
    assert (major, minor) >= (1, 18), version.stdout


# --- signing -----------------------------------------------------------------------------------


def test_sign_as_cosign_does(open_registry: str, key: Path, work: Path, verifier: Path) -> None:
    repository = f"pybin2img-test/signed-{RUN_ID}"
    tmp = work / "sign"
    tmp.mkdir()
    digests = {}
    for name, content in (("signed", b"one"), ("unsigned", b"two"), ("forged", b"three")):
        tarball = tmp / f"{name}.tar"
        write_test_image(tarball, [{"etc/which": content}])
        pushed = pybin2img("push", str(tarball), f"{open_registry}/{repository}:{name}")
        digests[name] = pushed.stdout.strip().rsplit("@", 1)[1]

    proc = pybin2img("sign", f"{open_registry}/{repository}:signed", "--key", str(key), env=_env())
    assert proc.stdout.strip() == f"{open_registry}/{repository}:signed@{digests['signed']}"
    public = key.with_suffix(".pub")
    assert cosign_verify(open_registry, repository, digests["signed"], public, tmp)
    assert not cosign_verify(open_registry, repository, digests["unsigned"], public, tmp)

    # Signing again replaces this key's signature; another key's is kept beside it.
    pybin2img(
        "sign", f"{open_registry}/{repository}@{digests['signed']}", "--key", str(key), env=_env()
    )
    other = tmp / "other"
    pybin2img("generate-key", str(other), env=_env())
    pybin2img("sign", f"{open_registry}/{repository}:signed", "--key", f"{other}.key", env=_env())
    tag = digests["signed"].replace(":", "-") + ".sig"
    assert len(_manifest(open_registry, repository, tag)["layers"]) == 2
    assert cosign_verify(open_registry, repository, digests["signed"], public, tmp)
    assert cosign_verify(open_registry, repository, digests["signed"], Path(f"{other}.pub"), tmp)

    # A signature moved to another image's tag: the payload names the first digest.
    moved = _get(
        open_registry, repository, f"manifests/{tag}", "application/vnd.oci.image.manifest.v1+json"
    )
    forged_tag = digests["forged"].replace(":", "-") + ".sig"
    requests.put(
        f"http://{open_registry}/v2/{repository}/manifests/{forged_tag}",
        data=moved,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    ).raise_for_status()
    assert not cosign_verify(open_registry, repository, digests["forged"], public, tmp)

    # containers/image (Debian 13's skopeo) verifies the signature where cosign puts it...
    signed = skopeo_policy_copy(verifier, f"{open_registry}/{repository}:signed", public, tmp)
    assert signed.returncode == 0, signed.stderr
    other_key = skopeo_policy_copy(
        verifier, f"{open_registry}/{repository}:signed", Path(f"{other}.pub"), tmp
    )
    assert other_key.returncode == 0, other_key.stderr  # the other key's signature is kept
    # ... and refuses an unsigned image, a key that signed nothing here, a moved signature.
    unsigned = skopeo_policy_copy(verifier, f"{open_registry}/{repository}:unsigned", public, tmp)
    assert unsigned.returncode != 0
    assert "A signature was required, but no signature exists" in unsigned.stderr
    stranger = tmp / "stranger"
    pybin2img("generate-key", str(stranger), env=_env())
    wrong_key = skopeo_policy_copy(
        verifier, f"{open_registry}/{repository}:signed", Path(f"{stranger}.pub"), tmp
    )
    assert wrong_key.returncode != 0
    assert "invalid signature when validating ASN.1 encoded signature" in wrong_key.stderr
    forged = skopeo_policy_copy(verifier, f"{open_registry}/{repository}:forged", public, tmp)
    assert forged.returncode != 0
    assert f"Signature for digest {digests['signed']} does not match" in forged.stderr


def test_build_push_attaches_the_sbom_and_signs(
    open_registry: str, key: Path, work: Path, hello_image: BuiltImage, verifier: Path
) -> None:
    """The session's hello app again (its compile is cached), pushed with an SPDX SBOM and
    signed: the SBOM is found by cosign's tag and by the referrers tag, both signed."""
    repository = f"pybin2img-test/release-{RUN_ID}"
    reference = f"{open_registry}/{repository}:1"
    tarball = work / "hello-release.tar"
    proc = pybin2img(
        "build",
        str(EXAMPLES / "hello" / "hello.py"),
        "-t",
        reference,
        "-o",
        str(tarball),
        "--push",
        "--sign-key",
        str(key),
        "--sbom-format",
        "spdx",
        "--metadata-file",
        str(work / "release.json"),
        env=_env(),
    )
    digest = proc.stdout.strip().rsplit("@", 1)[1]
    metadata = json.loads((work / "release.json").read_text())
    sbom = (work / "hello-release.sbom.spdx.json").read_bytes()
    assert json.loads(sbom)["spdxVersion"] == "SPDX-2.3"

    attachment = metadata["sbom_attachment"]
    assert attachment["subject"] == digest
    assert attachment["referrers"] == "tag"  # distribution 2.x has no referrers API
    cosign_style = _manifest(open_registry, repository, digest.replace(":", "-") + ".sbom")
    (layer,) = cosign_style["layers"]
    assert layer["mediaType"] == "application/spdx+json"
    assert _get(open_registry, repository, f"blobs/{layer['digest']}") == sbom
    assert cosign_style["subject"]["digest"] == digest
    referrers = _manifest(open_registry, repository, digest.replace(":", "-"))
    assert referrers["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [(m["digest"], m["artifactType"]) for m in referrers["manifests"]] == [
        (attachment["digest"], "application/spdx+json")
    ]

    public = key.with_suffix(".pub")
    signed = {s["digest"] for s in metadata["signatures"]}
    assert signed == {digest, attachment["digest"]}
    for each in signed:
        assert cosign_verify(open_registry, repository, each, public, work)
    # containers/image verifies the image and its SBOM attachment.
    for pulled in (reference, f"{open_registry}/{repository}@{attachment['digest']}"):
        proc = skopeo_policy_copy(verifier, pulled, public, work)
        assert proc.returncode == 0, proc.stderr


# --- index -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arm64_image(work: Path) -> Path:
    """An arm64 image tarball (its file is data: nothing runs it)."""
    tarball = work / "arm64.tar"
    write_test_image(
        tarball,
        [{"app/hello": b"an arm64 build would be here\n"}],
        architecture="arm64",
        variant="v8",
        reference="pybin2img-test/hello:arm64",
    )
    return tarball


def test_index_of_two_platforms(
    open_registry: str, key: Path, work: Path, hello_image: BuiltImage, arm64_image: Path
) -> None:
    reference = f"{open_registry}/pybin2img-test/multi-{RUN_ID}:1"
    output = work / "multi.tar"
    started = time.monotonic()
    proc = pybin2img(
        "index",
        str(hello_image.tarball),
        str(arm64_image),
        "-t",
        reference,
        "-o",
        str(output),
        "--push",
        "--sign-key",
        str(key),
        env=_env(),
    )
    seconds = time.monotonic() - started
    digest = proc.stdout.strip().rsplit("@", 1)[1]
    print(f"index of 2 platforms: {seconds:.1f}s, tarball {output.stat().st_size} bytes")

    raw = subprocess.run(
        [_tool("skopeo"), "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    platforms = [m["platform"] for m in json.loads(raw)["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
    public = key.with_suffix(".pub")
    for each in [digest, *(m["digest"] for m in json.loads(raw)["manifests"])]:
        assert cosign_verify(open_registry, repository, each, public, work)

    # This machine's engine picks its platform from the index and runs hello.
    try:
        docker("pull", reference)
        run = docker("run", "--rm", reference, "from", "the", "index")
        assert "Hello from a pybin2img image!" in run.stdout
        assert "args: from the index" in run.stdout
    finally:
        docker("rmi", "-f", reference, check=False)

    # The tarball: skopeo reads the index in it; podman loads this machine's image.
    inspected = subprocess.run(
        [_tool("skopeo"), "inspect", f"oci-archive:{output}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(inspected.stdout)["Architecture"] == "amd64"
    podman = _tool("podman")
    loaded = subprocess.run([podman, "load", "-i", str(output)], capture_output=True, text=True)
    try:
        assert loaded.returncode == 0, loaded.stderr
        assert reference in loaded.stdout
    finally:
        subprocess.run([podman, "rmi", "-f", reference], capture_output=True)


def test_index_refuses_two_images_of_one_platform(work: Path, hello_image: BuiltImage) -> None:
    proc = pybin2img(
        "index",
        str(hello_image.tarball),
        str(hello_image.tarball),
        "-t",
        "x:1",
        "-o",
        str(work / "same.tar"),
        check=False,
    )
    assert proc.returncode == 2
    assert f"{hello_image.tarball} and {hello_image.tarball} are both linux/amd64" in proc.stderr
    assert not (work / "same.tar").exists()


# --- TLS with a private CA, podman's credentials, failing fast ---------------------------------


@dataclass(frozen=True)
class TlsRegistry:
    address: str
    ca: Path
    user: str
    password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    """Debian's docker-registry on a free port, over TLS with a certificate from a CA made
    here, with htpasswd Basic authentication."""
    registry, openssl, htpasswd = (_tool("docker-registry"), _tool("openssl"), _tool("htpasswd"))
    d = tmp_path_factory.mktemp("tls-registry")

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(
        openssl,
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=pybin2img test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        openssl, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"
    )
    (d / "ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    run(
        openssl,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    )
    user, password = "releaser", f"pw-{RUN_ID}"
    (d / "htpasswd").write_bytes(
        subprocess.run([htpasswd, "-Bbn", user, password], check=True, capture_output=True).stdout
    )
    port = _free_port()
    (d / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {d}/storage}}}}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: pybin2img-tls\n"
        f"  tls: {{certificate: {d}/server.crt, key: {d}/server.key}}\n"
        f"auth:\n  htpasswd: {{realm: pybin2img-tls, path: {d}/htpasswd}}\n"
    )
    log = (d / "log").open("wb")
    server = subprocess.Popen([registry, "serve", str(d / "config.yml")], stdout=log, stderr=log)
    try:
        for _ in range(50):
            try:
                status = requests.get(
                    f"https://127.0.0.1:{port}/v2/", verify=str(d / "ca.crt"), timeout=2
                ).status_code
                if status == 401:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"the TLS registry did not start: {(d / 'log').read_text()[-2000:]}")
        yield TlsRegistry(
            address=f"127.0.0.1:{port}", ca=d / "ca.crt", user=user, password=password
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _podman_login(registry: TlsRegistry, authfile: Path, password: str) -> None:
    """``podman login`` writes podman's auth.json (it checks the password against the
    registry, so a wrong one is written by hand)."""
    certs = authfile.parent / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(registry.ca, certs / "ca.crt")
    if password != registry.password:
        entry = base64.b64encode(f"{registry.user}:{password}".encode()).decode()
        authfile.write_text(json.dumps({"auths": {registry.address: {"auth": entry}}}))
        return
    subprocess.run(
        [
            _tool("podman"),
            "login",
            "--authfile",
            str(authfile),
            "--cert-dir",
            str(certs),
            "-u",
            registry.user,
            "--password-stdin",
            registry.address,
        ],
        input=password,
        text=True,
        check=True,
        capture_output=True,
    )


def test_tls_registry_with_its_ca_and_podmans_credentials(
    tls_registry: TlsRegistry, work: Path
) -> None:
    tmp = work / "tls"
    tmp.mkdir()
    tarball = tmp / "image.tar"
    write_test_image(tarball, [{"etc/tls": b"over TLS"}])
    reference = f"{tls_registry.address}/team/app:1"
    authfile = tmp / "auth.json"
    _podman_login(tls_registry, authfile, tls_registry.password)
    # No Docker config at all: the credentials come from podman's auth.json.
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(tmp / "no-docker"),
        "REGISTRY_AUTH_FILE": str(authfile),
    }

    # A CA given for a registry is checked, loopback or not: another CA does not do.
    other = tmp / "other-ca.crt"
    subprocess.run(
        [_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp / "other-ca.key"),
         "-out", str(other), "-days", "2", "-subj", "/CN=another CA"],
        check=True, capture_output=True,
    )  # fmt: skip
    untrusted = pybin2img(
        "push", str(tarball), reference, "--registry-ca", str(other), env=env, check=False
    )
    assert untrusted.returncode == 8
    assert "--registry-ca FILE" in untrusted.stderr
    assert "certificate verify failed" in untrusted.stderr

    pushed = pybin2img(
        "push", str(tarball), reference, "--registry-ca", str(tls_registry.ca), env=env
    )
    assert pushed.stdout.startswith(f"{reference}@sha256:")

    # Where Docker keeps a registry's CA, and podman's auth.json under XDG_RUNTIME_DIR.
    certs_d = tmp / "certs.d"
    (certs_d / tls_registry.address).mkdir(parents=True)
    shutil.copy(tls_registry.ca, certs_d / tls_registry.address / "ca.crt")
    runtime = tmp / "runtime"
    (runtime / "containers").mkdir(parents=True)
    shutil.copy(authfile, runtime / "containers" / "auth.json")
    from pybin2img.options import registry_options

    options = registry_options(
        {"XDG_RUNTIME_DIR": str(runtime), "DOCKER_CONFIG": str(tmp / "no-docker"), "PATH": ""},
        username=None,
        password=None,
        insecure_registries=(),
    )
    import dataclasses

    options = dataclasses.replace(options, certs_dirs=(certs_d,))
    assert options.auth_files[0] == runtime / "containers" / "auth.json"
    result = push_image(
        tarball,
        parse_reference(f"{tls_registry.address}/team/app:2"),
        registry=options,
        log=Log(verbosity=-1),
    )
    assert result.digest == pushed.stdout.strip().rsplit("@", 1)[1]
    assert isinstance(options, RegistryOptions)


def test_wrong_password_fails_before_the_compile(tls_registry: TlsRegistry, work: Path) -> None:
    tmp = work / "wrong"
    tmp.mkdir()
    authfile = tmp / "auth.json"
    _podman_login(tls_registry, authfile, "not-the-password")
    started = time.monotonic()
    proc = pybin2img(
        "build",
        str(EXAMPLES / "hello" / "hello.py"),
        "-t",
        f"{tls_registry.address}/team/x:1",
        "-o",
        str(tmp / "x.tar"),
        "--push",
        "--registry-ca",
        str(tls_registry.ca),
        env={**os.environ, "DOCKER_CONFIG": str(tmp / "none"), "REGISTRY_AUTH_FILE": str(authfile)},
        check=False,
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 8, proc.stderr
    assert "refused the credentials" in proc.stderr
    assert str(authfile) in proc.stderr
    assert "compile" not in proc.stderr
    assert seconds < 10, f"took {seconds:.1f}s"
    assert not list(tmp.glob("x*"))
