"""examples/Makefile, run the way a deployment repository would: image, push, clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require
from tests.integration.conftest import EXAMPLES, RUN_ID

pytestmark = pytest.mark.integration

REGISTRY = "127.0.0.1:5000"


def _registry_up() -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def test_makefile_image_push_clean(tmp_path: Path) -> None:
    require(shutil.which("make"), "make not installed")
    require(_registry_up(), f"no registry on {REGISTRY} (ci/start-registry.sh starts one)")
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("build", "__pycache__"))
    image = f"{REGISTRY}/pybin2img-test/makefile-hello"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    make = ["make", "-C", str(work), f"IMAGE={image}", f"TAG={RUN_ID}"]

    subprocess.run([*make, "image"], env=env, check=True, capture_output=True)
    reference = (work / "build" / "hello.ref").read_text().strip()
    assert reference.startswith(f"{image}:{RUN_ID}@sha256:")
    assert json.loads((work / "build" / "hello.json").read_text())["reference"] == reference

    # Nothing changed: make has nothing to do.
    again = subprocess.run([*make, "image"], env=env, check=True, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout

    subprocess.run([*make, "push"], env=env, check=True, capture_output=True)
    pushed = json.loads((work / "build" / "push.json").read_text())
    assert reference.endswith(pushed["digest"])

    subprocess.run([*make, "clean"], env=env, check=True, capture_output=True)
    assert not (work / "build").exists()
