"""Secrets stay in memory: no options object prints them, and a push keeps only the part of
the environment credential helpers and proxies read. (The build that writes nothing holding
them is tests/integration/test_secrets.py.)"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest

from pybin2img.cli import main
from pybin2img.options import build_options
from pybin2img.registry import RegistryOptions
from pybin2img.registry.credentials import Credentials, helper_environment
from pybin2img.settings import Project, merge

CANARY = f"canary{uuid.uuid4().hex}"
ENVIRON = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/ci",
    "GITHUB_TOKEN": f"ghp_{CANARY}",
    "CI_JOB_TOKEN": f"job{CANARY}",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": f"aws{CANARY}",
    "HTTPS_PROXY": f"http://proxyuser:{CANARY}@proxy.example:3128",
    "no_proxy": "localhost,.internal",
    "COSIGN_PASSWORD": f"cosign{CANARY}",
    "CCACHE_REMOTE_STORAGE": f"redis://cache:{CANARY}@redis.example:6379",
}


def _options(tmp_path: Path, **flags: Any) -> Any:
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    key = tmp_path / "cosign.key"
    key.write_text("not read here\n")
    given = {
        "tag": "registry.example.com/team/app:1.0",
        "push": True,
        "username": "ci",
        "sign_key": key,
        "cache_repo": "registry.example.com/team/cache",
        **flags,
    }
    values, sources = merge({k: (v, "flag") for k, v in given.items()}, Project())
    return build_options(
        values,
        sources=sources,
        app=app,
        project=Project(),
        environ={**ENVIRON, "PYBIN2IMG_CACHE_DIR": str(tmp_path / "cache")},
        password=f"registry{CANARY}",
        default_python=Path("/usr/bin/python3"),
    )


def _objects(value: Any, seen: set[int] | None = None) -> list[Any]:
    """``value`` and every dataclass reachable from its fields (through tuples too)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    found = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found.append(value)
        for item in dataclasses.fields(value):
            found += _objects(getattr(value, item.name), seen)
    elif isinstance(value, (tuple, list)):
        for item in value:
            found += _objects(item, seen)
    return found


def test_no_options_object_prints_a_secret(tmp_path: Path) -> None:
    options = _options(tmp_path)
    # The secrets really are held: what a push and the signing need.
    assert options.registry.credentials.password == f"registry{CANARY}"
    assert options.sign_password == f"cosign{CANARY}"
    assert CANARY in options.ccache_env["CCACHE_REMOTE_STORAGE"]
    assert CANARY in options.registry.environ["AWS_SECRET_ACCESS_KEY"]

    objects = _objects(options)
    kinds = {type(o).__name__ for o in objects}
    assert {"BuildOptions", "RegistryOptions", "CacheRepoOptions", "Credentials"} <= kinds
    for obj in objects:
        assert CANARY not in repr(obj), type(obj).__name__
        assert CANARY not in str(obj), type(obj).__name__


def test_a_push_keeps_only_what_helpers_and_proxies_read() -> None:
    kept = helper_environment(ENVIRON)
    assert sorted(kept) == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "HOME",
        "HTTPS_PROXY",
        "PATH",
        "no_proxy",
    ]
    # Whoever constructs the options, a library user with os.environ too.
    options = RegistryOptions(environ=ENVIRON)
    assert dict(options.environ) == dict(kept)
    assert "GITHUB_TOKEN" not in options.environ
    assert CANARY not in repr(options)


def test_credentials_print_no_password_or_token() -> None:
    for credentials in (
        Credentials(username="ann", password=CANARY, source="test"),
        Credentials(identity_token=CANARY, source="test"),
    ):
        assert CANARY not in repr(credentials)
        assert CANARY not in str(credentials)
        assert "source='test'" in repr(credentials)


def test_verbose_options_show_no_password_of_ccache_s_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    storage = f"redis://cache:{CANARY}@redis.example:6379"
    argv = ["build", str(app), "-t", "x", "-v", "--ccache-remote-storage", storage]
    # A bad option fails right after the options are printed, before anything is built.
    with pytest.raises(SystemExit):
        main([*argv, "--workdir", "relative"])
    err = capsys.readouterr().err
    assert "redis://cache@redis.example:6379" in err
    assert CANARY not in err
