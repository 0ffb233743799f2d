from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from pybin2img.errors import RegistryError
from pybin2img.log import Log
from pybin2img.registry.credentials import Credentials, find_credentials, podman_auth_files


def _config(tmp_path: Path, document: object) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(document))
    return tmp_path


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _find(registry: str, config: Path | None, log: Log | None = None) -> Credentials | None:
    # An empty PATH: no credential helper can be found (those are tested for real elsewhere).
    return find_credentials(registry, docker_config=config, environ={"PATH": ""}, log=log or Log())


def test_auths_entry_matched_by_host_whatever_the_key_looks_like(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {
            "auths": {
                "https://reg.example.com:5000/v1/": {"auth": _b64("ann:pa:ss")},
                "other.example.com": {"auth": _b64("bob:x")},
            }
        },
    )
    found = _find("reg.example.com:5000", config)
    assert found is not None
    assert (found.username, found.password, found.identity_token) == ("ann", "pa:ss", "")
    assert str(tmp_path / "config.json") in found.source
    assert _find("reg.example.com", config) is None


def test_docker_hub_key_and_identity_token(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {"auths": {"https://index.docker.io/v1/": {"identitytoken": "refresh-me"}}},
    )
    found = _find("docker.io", config)
    assert found is not None
    assert found.identity_token == "refresh-me"
    assert not found.password


def test_no_config_or_no_entry_is_anonymous(tmp_path: Path) -> None:
    assert _find("reg.example.com", None) is None
    assert _find("reg.example.com", tmp_path) is None  # no config.json
    assert _find("reg.example.com", _config(tmp_path, {"auths": {}})) is None


def test_broken_entries_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not base64 of user:password"):
        _find("r.example", _config(tmp_path, {"auths": {"r.example": {"auth": "!!!"}}}))
    with pytest.raises(RegistryError, match="not base64 of user:password"):
        _find("r.example", _config(tmp_path, {"auths": {"r.example": {"auth": _b64("nocolon")}}}))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RegistryError, match="cannot read registry credentials"):
        _find("r.example", tmp_path)


def test_missing_cred_helper_is_an_error_but_a_stale_store_only_warns(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"docker-credential-nope .* not found on PATH"):
        _find("r.example", _config(tmp_path, {"credHelpers": {"r.example": "nope"}}))
    stream = io.StringIO()
    found = _find(
        "r.example",
        _config(tmp_path, {"credsStore": "desktop", "auths": {"r.example": {"auth": _b64("a:b")}}}),
        Log(stream=stream),
    )
    assert found is not None
    assert (found.username, found.password) == ("a", "b")
    assert "docker-credential-desktop was not found" in stream.getvalue()


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
