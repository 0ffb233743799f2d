from __future__ import annotations

import pytest

from pybin2img.errors import UsageError
from pybin2img.reference import parse_reference


@pytest.mark.parametrize(
    ("text", "familiar", "qualified", "name"),
    [
        ("myimg", "myimg:latest", "docker.io/library/myimg:latest", "myimg"),
        ("myimg:1.0", "myimg:1.0", "docker.io/library/myimg:1.0", "myimg"),
        ("team/app:v2", "team/app:v2", "docker.io/team/app:v2", "app"),
        (
            "localhost:5000/a/b:1",
            "localhost:5000/a/b:1",
            "localhost:5000/a/b:1",
            "b",
        ),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest", "app"),
        (
            "registry.example.com/team/app:1.2",
            "registry.example.com/team/app:1.2",
            "registry.example.com/team/app:1.2",
            "app",
        ),
        (
            "a__b.c-d---e:T_1.x-y",
            "a__b.c-d---e:T_1.x-y",
            "docker.io/library/a__b.c-d---e:T_1.x-y",
            "a__b.c-d---e",
        ),
    ],
)
def test_valid_references(text: str, familiar: str, qualified: str, name: str) -> None:
    ref = parse_reference(text)
    assert ref.familiar == familiar
    assert ref.fully_qualified == qualified
    assert ref.name == name
    assert ref.with_digest("sha256:" + "0" * 64) == f"{familiar}@sha256:{'0' * 64}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "My Image",
        "MyImage",
        "app:",
        "app:.bad",
        "app:-bad",
        "app:" + "x" * 129,
        "/app",
        "app/",
        "a//b",
        "app@sha256:" + "0" * 64,
        "-app",
        "app_",
        "reg:port/app",
    ],
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(UsageError, match="invalid image reference"):
        parse_reference(text)


def test_tag_defaults_to_latest_and_is_remembered_as_implicit() -> None:
    assert not parse_reference("app").explicit_tag
    assert parse_reference("app:latest").explicit_tag
