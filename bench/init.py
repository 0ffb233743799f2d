"""PID 1: ``docker stop`` of an app with no signal handling, with tini in front of it (the
default) and with ``--init none``; and what tini costs in start time and size.

The app is tests/apps/runtime (``wait`` sleeps without a SIGTERM handler). Both images come from
one compile. For each, the median of several runs of:

* stop: from ``docker stop`` (Docker's default 10 s grace period) until it returns, once the app
  printed that it is waiting; with the container's exit code (143: died of SIGTERM, 137: killed);
* start: ``docker run --rm IMAGE exit 0`` until the client returns (runs interleaved).

Prints a Markdown table, writes build/bench/init.json and removes the images it created. Needs a
Docker engine and tini on the build machine.

    .venv/bin/python bench/init.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYBIN2IMG = Path(sys.executable).parent / "pybin2img"
APP = ROOT / "tests/apps/runtime/runtime.py"
RESULTS = ROOT / "build/bench/init.json"
IMAGE = "pybin2img-bench-init"
GOAL_STOP = 1.0


@dataclass
class Figures:
    init: str
    image_bytes: int
    stop_seconds: float
    stop_exit_code: int
    start_seconds: float


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def build(init: str, out_dir: Path) -> tuple[str, int]:
    reference = f"{IMAGE}:{init}"
    tarball = out_dir / f"{init}.tar"
    argv = [str(PYBIN2IMG), "build", str(APP), "-t", reference, "-o", str(tarball)]
    subprocess.run([*argv, "--load", "--init", init, "-q"], check=True)
    return reference, tarball.stat().st_size


def stop_once(reference: str) -> tuple[float, int]:
    name = f"{IMAGE}-{reference.rsplit(':', 1)[1]}"
    docker("rm", "-f", "-v", name, check=False)
    docker("run", "-d", "--name", name, "--read-only", "--network", "none", reference, "wait")
    try:
        deadline = time.monotonic() + 30
        while "waiting" not in docker("logs", name).stdout:
            if time.monotonic() > deadline:
                raise SystemExit(f"{reference}: the app did not start")
            time.sleep(0.05)
        start = time.perf_counter()
        docker("stop", name)
        took = time.perf_counter() - start
        code = int(docker("inspect", name, "--format", "{{.State.ExitCode}}").stdout)
        return took, code
    finally:
        docker("rm", "-f", "-v", name, check=False)


def start_once(reference: str) -> float:
    start = time.perf_counter()
    docker("run", "--rm", "--network", "none", reference, "exit", "0")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-init-") as tmp:
        built = {init: build(init, Path(tmp)) for init in ("tini", "none")}
    try:
        # Start times interleaved between the images, so that the engine's ups and downs hit both.
        starts: dict[str, list[float]] = {init: [] for init in built}
        for _ in range(args.runs * 5):
            for init, (reference, _size) in built.items():
                starts[init].append(start_once(reference))
        for init, (reference, size) in built.items():
            stops = [stop_once(reference) for _ in range(args.runs)]
            figures.append(
                Figures(
                    init=init,
                    image_bytes=size,
                    stop_seconds=statistics.median(s for s, _ in stops),
                    stop_exit_code=stops[-1][1],
                    start_seconds=statistics.median(starts[init]),
                )
            )
    finally:
        for reference, _ in built.values():
            docker("rmi", "-f", reference, check=False)

    print("| --init | docker stop | exit code | start (run --rm) | image (compressed) |")
    print("|---|---|---|---|---|")
    for f in figures:
        print(
            f"| {f.init} | {f.stop_seconds:.2f} s | {f.stop_exit_code} | "
            f"{f.start_seconds * 1000:.0f} ms | {f.image_bytes / 1e6:.2f} MB |"
        )
    tini = next(f for f in figures if f.init == "tini")
    verdict = "met" if tini.stop_seconds < GOAL_STOP else "MISSED"
    print(f"\ngoal: docker stop under {GOAL_STOP:g} s with the default init: {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(f) for f in figures], indent=1) + "\n")


if __name__ == "__main__":
    main()
