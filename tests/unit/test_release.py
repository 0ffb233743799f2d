"""Release outputs without a registry: cosign key files, the signature payload, the SBOM
artifact manifest, the SPDX document, merging image tarballs into an index, where credentials
and a registry's CA are looked for, and the command-line errors of the new commands.

What registries, skopeo, podman, Docker and openssl make of them is in
tests/integration/test_release.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pybin2img.cli import main
from pybin2img.errors import InvalidImageError, RegistryError, UsageError
from pybin2img.log import Log
from pybin2img.oci.archive import open_archive
from pybin2img.oci.documents import MEDIA_INDEX, MEDIA_MANIFEST, Descriptor
from pybin2img.oci.index import merge_index, write_index
from pybin2img.reference import parse_reference
from pybin2img.ship.attach import referrers_tag, sbom_manifest
from pybin2img.ship.credentials import find_credentials, podman_auth_files
from pybin2img.ship.keys import (
    COSIGN_PRIVATE_KEY,
    generate_key_pair,
    is_encrypted,
    load_signing_key,
)
from pybin2img.ship.registry.transport import Connection, registry_ca_files
from pybin2img.ship.sign import identity, parse_target, signature_tag, simple_signing_payload
from tests.imagegen import write_test_image
from tests.sbomfacts import owned_input, sbom_input

DIGEST = "sha256:" + "ab" * 32


# --- keys --------------------------------------------------------------------------------------


def test_generated_key_is_cosigns_format_and_opens_with_its_password(tmp_path: Path) -> None:
    private, public = generate_key_pair(tmp_path / "release", "s3cret")
    assert (private.name, public.name) == ("release.key", "release.pub")
    assert private.stat().st_mode & 0o777 == 0o600
    text = private.read_text()
    assert text.startswith(f"-----BEGIN {COSIGN_PRIVATE_KEY}-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    # secure-systems-lab's JSON, as cosign writes it: scrypt N=32768 r=8 p=1, secretbox.
    body = json.loads(base64.b64decode("".join(text.splitlines()[1:-1])))
    assert list(body) == ["kdf", "cipher", "ciphertext"]
    assert body["kdf"]["name"] == "scrypt"
    assert body["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert body["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24
    assert is_encrypted(private)

    key = load_signing_key(private, "s3cret")
    assert key.public_pem == public.read_bytes()
    signature = key.sign(b"payload")
    assert key.verifies(b"payload", signature)
    assert not key.verifies(b"other", signature)


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("mine")
    with pytest.raises(UsageError, match=r"k.pub already exists"):
        generate_key_pair(tmp_path / "k", "")
    assert not (tmp_path / "k.key").exists()
    assert (tmp_path / "k.pub").read_text() == "mine"


def test_wrong_or_missing_password(tmp_path: Path) -> None:
    private, _ = generate_key_pair(tmp_path / "k", "right")
    with pytest.raises(UsageError, match=r"wrong password \(COSIGN_PASSWORD\)"):
        load_signing_key(private, "wrong")
    with pytest.raises(UsageError, match=r"set COSIGN_PASSWORD"):
        load_signing_key(private, None)


def test_empty_password_is_a_password(tmp_path: Path) -> None:
    private, _ = generate_key_pair(tmp_path / "k", "")
    assert load_signing_key(private, "").sign(b"x")


def test_plain_pem_ec_keys_and_other_curves(tmp_path: Path) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    sec1 = tmp_path / "sec1.pem"
    sec1.write_bytes(
        p256.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert not is_encrypted(sec1)
    assert load_signing_key(sec1, None).public_pem == load_signing_key(sec1, "ignored").public_pem
    pkcs8 = tmp_path / "pkcs8.pem"
    pkcs8.write_bytes(
        p256.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    assert is_encrypted(pkcs8)
    assert load_signing_key(pkcs8, "pw").sign(b"x")
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(UsageError, match=r"not an ECDSA P-256 key"):
        load_signing_key(p384, None)
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(UsageError, match=r"is not a PEM private key"):
        load_signing_key(tmp_path / "junk", None)
    with pytest.raises(UsageError, match=r"does not exist"):
        load_signing_key(tmp_path / "absent", None)


# --- what is signed and attached ---------------------------------------------------------------


def test_simple_signing_payload_is_cosigns_bytes() -> None:
    reference = parse_reference("127.0.0.1:5000/team/app:1")
    payload = simple_signing_payload(identity(reference), DIGEST)
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app"},'
        b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert identity(parse_reference("app")) == "docker.io/library/app"
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"


def test_sign_targets() -> None:
    reference, digest = parse_target(f"reg.example/app@{DIGEST}")
    assert (reference.repository, digest) == ("reg.example/app", DIGEST)
    reference, digest = parse_target("reg.example/app:2")
    assert (reference.tag, digest) == ("2", None)
    with pytest.raises(UsageError, match=r"is not sha256:<64 hex>"):
        parse_target("reg.example/app@sha256:abc")


def test_sbom_artifact_manifest() -> None:
    subject = Descriptor(media_type=MEDIA_MANIFEST, digest=DIGEST, size=512)
    manifest = json.loads(sbom_manifest(subject, b"{}\n", "application/spdx+json", "a.spdx.json"))
    assert manifest["artifactType"] == "application/spdx+json"
    assert manifest["subject"] == subject.to_json()
    assert manifest["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2,
        "data": "e30=",
    }
    (layer,) = manifest["layers"]
    assert layer["digest"] == "sha256:" + hashlib.sha256(b"{}\n").hexdigest()
    assert layer["annotations"] == {"org.opencontainers.image.title": "a.spdx.json"}
    assert referrers_tag(DIGEST) == "sha256-" + "ab" * 32


def test_spdx_document_is_valid_and_deterministic() -> None:

    from pybin2img.plan.spdx import spdx_document

    facts = sbom_input()
    first = spdx_document(facts)
    assert first == spdx_document(facts)
    document = json.loads(first)
    assert document["spdxVersion"] == "SPDX-2.3"
    packages = {p["name"]: p for p in document["packages"]}
    assert packages["Flask"]["licenseDeclared"] == "BSD-3-Clause"
    refs = {r["referenceLocator"] for p in document["packages"] for r in p.get("externalRefs", [])}
    assert "pkg:pypi/flask@3.1.3" in refs
    assert any(ref.startswith("pkg:deb/debian/libfoo1@") for ref in refs)
    # Debian's short names are no SPDX expression: kept as a comment, not made up.
    assert packages["libfoo1"]["licenseDeclared"] == "NOASSERTION"
    kinds = {(r["relationshipType"], r["relatedSpdxElement"]) for r in document["relationships"]}
    assert ("DESCRIBES", "SPDXRef-Image") in kinds
    assert ("CONTAINS", "SPDXRef-Python") in kinds
    other = spdx_document(sbom_input(python_version="3.12.1"))
    assert json.loads(other)["documentNamespace"] != document["documentNamespace"]


def test_spdx_document_lists_every_file_under_its_owner(tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.json.json_parser import parse_from_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    from pybin2img.plan.spdx import spdx_document

    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_document(owned_input()))
    assert validate_full_spdx_document(parse_from_file(str(path))) == []
    document = json.loads(path.read_text())
    files = {f["fileName"]: f for f in document["files"]}
    libssl = files["./app/libssl.so.3"]
    assert {c["algorithm"] for c in libssl["checksums"]} == {"SHA1", "SHA256"}
    assert libssl["comment"] == (
        "pybin2img:copy-of: /lib/x86_64-linux-gnu/libssl.so.3; pybin2img:match: same code"
    )
    packages = {p["SPDXID"]: p for p in document["packages"]}
    owner = {
        r["relatedSpdxElement"]: packages[r["spdxElementId"]]["name"]
        for r in document["relationships"]
        if r["relationshipType"] == "CONTAINS" and r["relatedSpdxElement"].startswith("SPDXRef-F")
    }
    assert owner[libssl["SPDXID"]] == "libssl3"
    assert owner[files["./app/libpq-a17e3caa.so.5"]["SPDXID"]] == "psycopg2-binary"
    assert owner[files["./app/web"]["SPDXID"]] == "web"
    assert owner[files["./etc/passwd"]["SPDXID"]] == "pybin2img-generated"
    unclaimed = [p for p in document["packages"] if p["name"] == "/usr/local/lib/libmine.so"]
    assert unclaimed[0]["primaryPackagePurpose"] == "FILE"
    tools = {
        packages[r["spdxElementId"]]["name"]
        for r in document["relationships"]
        if r["relationshipType"] == "BUILD_TOOL_OF"
    }
    assert tools == {"pybin2img", "nuitka", "gcc", "patchelf", "strip"}


def test_spdx_document_parses_back(tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.json.json_parser import parse_from_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    from pybin2img.plan.spdx import spdx_document

    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_document(sbom_input()))
    assert validate_full_spdx_document(parse_from_file(str(path))) == []


# --- index ------------------------------------------------------------------------------------


def _docker_save(path: Path, architecture: str) -> Path:
    """A ``docker save``-style tarball: manifest.json, the config and uncompressed layers."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("etc/arch")
        info.size = len(architecture)
        tar.addfile(info, io.BytesIO(architecture.encode()))
    data = layer.getvalue()
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(data).hexdigest()],
            },
        }
    ).encode()
    members = {
        "manifest.json": json.dumps(
            [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]
        ).encode(),
        "c.json": config,
        "l/layer.tar": data,
    }
    with tarfile.open(path, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def test_index_of_two_platforms_written_as_an_oci_layout(tmp_path: Path) -> None:
    amd64 = tmp_path / "amd64.tar"
    write_test_image(amd64, [{"etc/a": b"amd64"}])
    arm64 = _docker_save(tmp_path / "arm64.tar", "arm64")
    reference = parse_reference("registry.example/team/app:2")
    with merge_index([amd64, arm64]) as merged:
        index = json.loads(merged.index)
        assert index["mediaType"] == MEDIA_INDEX
        assert [m["platform"] for m in index["manifests"]] == [
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm64", "os": "linux"},
        ]
        # pybin2img's manifest keeps its bytes; docker save's gets an OCI manifest.
        with open_archive(amd64) as archive:
            assert index["manifests"][0]["digest"] == archive.manifest_descriptor.digest
        assert json.loads(merged.children[1].manifest)["layers"][0]["mediaType"] == (
            "application/vnd.oci.image.layer.v1.tar"
        )
        output = tmp_path / "out" / "multi.tar"
        size = write_index(merged, reference, output)
        digest = merged.descriptor.digest
    assert size == output.stat().st_size
    with tarfile.open(output) as tar:
        names = tar.getnames()
        layout = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        blobs = {n: tar.extractfile(n).read() for n in names if n.startswith("blobs/")}  # type: ignore[union-attr]
    assert names[:2] == ["oci-layout", "index.json"]
    (entry,) = layout["manifests"]
    assert entry["digest"] == digest
    assert entry["mediaType"] == MEDIA_INDEX
    assert entry["annotations"]["io.containerd.image.name"] == reference.fully_qualified
    for name, data in blobs.items():
        assert name == "blobs/sha256/" + hashlib.sha256(data).hexdigest()
    assert len(blobs) == 1 + 2 * 3  # the index; each image's manifest, config and layer
    # The same inputs give the same bytes.
    with merge_index([amd64, arm64]) as merged:
        write_index(merged, reference, tmp_path / "again.tar")
    assert (tmp_path / "again.tar").read_bytes() == output.read_bytes()


def test_two_images_of_one_platform_are_named(tmp_path: Path) -> None:
    first, second = tmp_path / "one.tar", tmp_path / "two.tar"
    write_test_image(first, [{"etc/a": b"1"}], architecture="arm64")
    write_test_image(second, [{"etc/a": b"2"}], architecture="arm64", variant="v8")
    with pytest.raises(UsageError, match=r"one.tar and .*two.tar are both linux/arm64/v8 images"):
        merge_index([first, second])
    broken = tmp_path / "broken.tar"
    broken.write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(InvalidImageError):
        merge_index([first, broken])


# --- credentials and trust ---------------------------------------------------------------------


def test_podman_auth_files_in_podmans_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert podman_auth_files({"REGISTRY_AUTH_FILE": "/a.json"}, home=home, uid=5) == (
        Path("/a.json"),
    )
    assert podman_auth_files({"XDG_RUNTIME_DIR": "/run/user/5"}, home=home, uid=5) == (
        Path("/run/user/5/containers/auth.json"),
        home / ".config/containers/auth.json",
    )
    assert podman_auth_files({"XDG_CONFIG_HOME": "/cfg"}, home=home, uid=5) == (
        Path("/run/containers/5/auth.json"),
        Path("/cfg/containers/auth.json"),
    )


def test_podman_auth_json_after_dockers_config(tmp_path: Path) -> None:
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = tmp_path / "auth.json"

    def entry(user: str) -> dict[str, str]:
        return {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}

    auth.write_text(json.dumps({"auths": {"reg.example": entry("podman"), "b.example": {}}}))
    (docker / "config.json").write_text(json.dumps({"auths": {"b.example": entry("docker")}}))

    def find(registry: str) -> str | None:
        found = find_credentials(
            registry, docker_config=docker, environ={"PATH": ""}, log=Log(), auth_files=[auth]
        )
        return found.username if found else None

    assert find("reg.example") == "podman"
    assert find("b.example") == "docker"
    assert find("c.example") is None
    auth.write_text("{")
    with pytest.raises(RegistryError, match=r"cannot read registry credentials from .*auth.json"):
        find("reg.example")


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


# --- the command line --------------------------------------------------------------------------


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, pattern: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == code, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert pattern in err, err


def test_command_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    image = tmp_path / "a.tar"
    write_test_image(image, [{"etc/a": b"a"}])
    _fails(capsys, ["index", str(image), "-t", "x:1"], 2, "nothing to do: give -o FILE, --push")
    _fails(
        capsys,
        ["index", str(image), "-t", "x:1", "-o", "x.tar", "--sign-key", "k"],
        2,
        "need --push",
    )
    _fails(capsys, ["index", str(image), str(image), "-t", "x:1", "-o", "x.tar"], 2, "both linux")
    assert not (tmp_path / "x.tar").exists()
    main_ok = ["generate-key", str(tmp_path / "k")]
    with pytest.raises(SystemExit) as exit_info:
        main(main_ok)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"{tmp_path / 'k.pub'}\n"
    _fails(capsys, main_ok, 2, "k.key already exists")
    _fails(capsys, ["sign", "reg.example/app@sha256:12", "--key", "k.key"], 2, "sha256:<64 hex>")
    app = tmp_path / "app.py"
    app.write_text("print(1)\n")
    _fails(capsys, ["build", str(app), "-t", "x", "--sign-key", "k.key"], 2, "need --push")
