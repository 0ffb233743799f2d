"""Every kind of APP, and where options come from: flag > PYBIN2IMG_* > [tool.pybin2img]."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RUN_ID, docker, pybin2img

pytestmark = pytest.mark.integration

CLI = '''"""A console script of a small project."""

import os
import sys


def main() -> int:
    print(os.environ.get("GREETING", "no greeting"), " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tinyproj")
    (root / "pyproject.toml").write_text(
        f"""[project]
name = "tinyproj"
version = "0.3.0"
license = "MIT"
dependencies = []

[project.scripts]
tiny = "tinyproj.cli:main"

[tool.pybin2img]
tag = "pybin2img-test/tiny:pyproject-{RUN_ID}"
env = {{ GREETING = "hello from pyproject" }}
"""
    )
    package = root / "src" / "tinyproj"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text(CLI)
    return root


def test_project_entry_point_with_pyproject_options(
    project: Path, tmp_path: Path, docker_engine: Any
) -> None:
    out = tmp_path / "tiny.tar"
    github = tmp_path / "github-output"
    github.write_text("")
    proc = pybin2img(
        "build",
        str(project),
        "-o",
        str(out),
        "--load",
        "--metadata-file",
        str(tmp_path / "m.json"),
        env={**os.environ, "GITHUB_OUTPUT": str(github)},
    )
    reference = f"pybin2img-test/tiny:pyproject-{RUN_ID}"
    assert proc.stdout.startswith(reference + "@sha256:")
    try:
        run = docker("run", "--rm", "--read-only", "--network", "none", reference, "x")
        assert run.stdout.strip() == "hello from pyproject x"
        config = json.loads(docker("image", "inspect", reference).stdout)[0]["Config"]
        assert config["Entrypoint"] == ["/usr/bin/tini", "-s", "--", "/app/tiny"]
        assert config["Labels"]["org.opencontainers.image.licenses"] == "MIT"
    finally:
        docker("rmi", "-f", reference, check=False)
    outputs = dict(line.split("=", 1) for line in github.read_text().splitlines())
    assert outputs["reference"] == proc.stdout.strip()
    assert proc.stdout.strip().endswith(outputs["digest"])


def test_flag_beats_environment_beats_pyproject(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYBIN2IMG_TAG": f"pybin2img-test/tiny:env-{RUN_ID}"}
    from_env = pybin2img("build", str(project), "-o", str(tmp_path / "a.tar"), env=env)
    assert from_env.stdout.startswith(f"pybin2img-test/tiny:env-{RUN_ID}@")
    from_flag = pybin2img(
        "build", str(project), "-o", str(tmp_path / "b.tar"), "-t", "flag:1", env=env
    )
    assert from_flag.stdout.startswith("flag:1@")
    verbose = pybin2img("build", str(project), "-o", str(tmp_path / "c.tar"), "-v", env=env)
    assert "PYBIN2IMG_TAG" in verbose.stderr
    assert "[pyproject]" in verbose.stderr  # env came from there


def test_module_input(project: Path, tmp_path: Path, docker_engine: Any) -> None:
    reference = f"pybin2img-test/tiny-module:{RUN_ID}"
    out = tmp_path / "m.tar"
    proc = pybin2img(
        "build",
        "-m",
        "tinyproj.cli",
        "-t",
        reference,
        "-o",
        str(out),
        "--smoke-test=a b",
        cwd=project / "src",
    )
    assert proc.stdout.startswith(reference + "@")
    assert "Docker engine: exit code 0" in proc.stderr
