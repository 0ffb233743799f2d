"""Fresh CI runners sharing a cache: the figures of README "Caching in CI", as ratios to a cold
build, in one run.

Each runner is an empty ``PYBIN2IMG_CACHE_DIR`` (and an empty pip cache); they share a cache
repository on the registry at 127.0.0.1:5000 (ci/start-registry.sh) and ccache's remote
storage on the Redis at 127.0.0.1:6379 (ci/start-redis.sh), both fresh for this run (a new
repository, a new ccache namespace). Per app:

    cold        nothing shared: the build every runner does today
    runner A    cold, with --cache-repo and Redis: what sharing costs the first runner
    runner B    the same commit on a fresh runner: the dist from the repository
    runner C    a one-line change on a fresh runner: Nuitka's module cache from the
                repository, C from Redis
    no-op       runner C's command again on runner C: the local rebuild, unchanged

For apps with requirements (web), the build environment: made by pip with an empty and with a
warm pip cache, against downloaded from the repository.

    .venv/bin/python bench/cicache.py [--only hello,web]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OUT = ROOT / "build" / "bench"
REGISTRY = "127.0.0.1:5000"
REDIS = "redis://127.0.0.1:6379"

#: name -> (app file in examples/, extra build arguments, the line changed for runner C)
APPS: dict[str, tuple[str, tuple[str, ...], tuple[str, str]]] = {
    "hello": (
        "hello/hello.py",
        (),
        ("Hello from a pybin2img image!", "Hello from runner C!"),
    ),
    "web": (
        "web/app.py",
        ("-r", "requirements.txt", "--port", "8080"),
        ('service="web",', 'service="web, runner C",'),
    ),
}


def build(
    app: Path, runner: Path, tag: str, *extra: str, share: str | None, read_only: bool = False
) -> dict[str, Any]:
    """One ``pybin2img build`` as a runner with cache directory ``runner``: seconds, digest,
    stage timings."""
    meta = runner.parent / f"{runner.name}.json"
    env = {
        **os.environ,
        "PYBIN2IMG_CACHE_DIR": str(runner),
        "PIP_CACHE_DIR": str(runner / "pip"),
    }
    env.pop("CCACHE_REMOTE_STORAGE", None)
    argv = [
        sys.executable, "-m", "pybin2img", "build", str(app), "-t", tag,
        "-o", str(runner.parent / f"{runner.name}.tar"), "--metadata-file", str(meta), "-q",
        *extra,
    ]  # fmt: skip
    if share is not None:
        argv += ["--cache-repo", share, *(["--cache-mode", "read"] if read_only else [])]
        env["CCACHE_REMOTE_STORAGE"] = REDIS
    start = time.monotonic()
    proc = subprocess.run(
        argv, env=env, cwd=app.parent, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({runner.name}):\n{proc.stderr}")
    result = json.loads(meta.read_text())
    return {
        "seconds": round(seconds, 2),
        "digest": result["digest"],
        "timings": result["timings"],
        "warnings": [line for line in proc.stderr.splitlines() if "warning" in line],
    }


def environments(app: Path, work: Path, share: str) -> dict[str, float]:
    """The app's build environment made by pip (empty and warm pip cache) and downloaded from
    the cache repository, in seconds."""
    from pybin2img.cache import Cache
    from pybin2img.compile.buildenv import build_environment
    from pybin2img.compile.prepare import nuitka_requirement
    from pybin2img.compile.remotecache import RemoteCache
    from pybin2img.log import Log
    from pybin2img.options import CacheRepoOptions, registry_options
    from pybin2img.reference import parse_reference

    requirements = app.parent / "requirements.txt"
    pip_cache = work / "pip-warm"
    figures = {}
    for name in ("pip, empty pip cache", "pip, warm pip cache"):
        if name.endswith("empty pip cache"):
            shutil.rmtree(pip_cache, ignore_errors=True)
        os.environ["PIP_CACHE_DIR"] = str(pip_cache)
        cache = Cache(work / f"envs-{len(figures)}")
        start = time.monotonic()
        build_environment(
            python=Path(sys.executable).resolve(),
            requirements=requirements,
            nuitka=nuitka_requirement(),
            cache=cache,
            log=Log(verbosity=-1),
        )
        figures[name] = round(time.monotonic() - start, 2)
    options = CacheRepoOptions(
        reference=parse_reference(share),
        registry=registry_options(os.environ, username=None, password=None, insecure_registries=()),
    )
    uploader = RemoteCache(options, Log(verbosity=-1))
    cache = Cache(work / "envs-upload")
    start = time.monotonic()
    build_environment(
        python=Path(sys.executable).resolve(),
        requirements=requirements,
        nuitka=nuitka_requirement(),
        cache=cache,
        log=Log(verbosity=-1),
        remote=uploader,
    )
    figures["pip and upload (first runner)"] = round(time.monotonic() - start, 2)
    uploader.close()
    downloader = RemoteCache(options, Log(verbosity=-1))
    start = time.monotonic()
    build_environment(
        python=Path(sys.executable).resolve(),
        requirements=requirements,
        nuitka=nuitka_requirement(),
        cache=Cache(work / "envs-download"),
        log=Log(verbosity=-1),
        remote=downloader,
    )
    figures["from the cache repository"] = round(time.monotonic() - start, 2)
    downloader.close()
    return figures


def bench_app(name: str, work: Path, run: str) -> dict[str, Any]:
    source, extra, (old, new) = APPS[name]
    app_dir = work / name / "app"
    shutil.copytree((EXAMPLES / source).parent, app_dir)
    app = app_dir / Path(source).name
    share = f"{REGISTRY}/pybin2img-bench/cicache-{run}-{name}"
    tag = f"pybin2img-bench/{name}:cicache"
    runners = work / name
    print(f"{name}: cold build …", file=sys.stderr)
    cold = build(app, runners / "cold", tag, *extra, share=None)
    print(f"{name}: runner A (cold, sharing) …", file=sys.stderr)
    a = build(app, runners / "a", tag, *extra, share=share)
    print(f"{name}: runner B (same commit) …", file=sys.stderr)
    b = build(app, runners / "b", tag, *extra, share=share)
    app.write_text(app.read_text().replace(old, new))
    print(f"{name}: runner C (one-line change) …", file=sys.stderr)
    c = build(app, runners / "c", tag, *extra, share=share, read_only=True)
    noop = build(app, runners / "c", tag, *extra, share=share, read_only=True)
    result = {
        "app": name,
        "cold": cold,
        "runner_a": a,
        "runner_b": b,
        "runner_c": c,
        "noop": noop,
        "same_digest_b": b["digest"] == a["digest"] == cold["digest"],
    }
    if "-r" in extra:
        print(f"{name}: build environments …", file=sys.stderr)
        result["environments"] = environments(app, work / name / "envs", share + "-env")
    return result


def table(results: list[dict[str, Any]]) -> str:
    names = [r["app"] for r in results]
    lines = [
        "| scenario | " + " | ".join(names) + " | goal |",
        "|---|" + "---|" * len(names) + "---|",
    ]

    def row(label: str, key: str, goal: str) -> None:
        cells = []
        for r in results:
            seconds, cold = r[key]["seconds"], r["cold"]["seconds"]
            ratio = "" if key == "cold" else f" ({seconds / cold:.2f}x)"
            cells.append(f"{seconds:.1f} s{ratio}")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")

    row("cold build, nothing shared", "cold", "")
    row("runner A: cold, --cache-repo and Redis", "runner_a", "")
    row("runner B: fresh, same commit", "runner_b", "≤ 0.1x, same digest")
    row("runner C: fresh, one-line change", "runner_c", "≤ 0.3x")
    row("no-op rebuild on runner C", "noop", "< 1 s")
    same = " | ".join("yes" if r["same_digest_b"] else "**no**" for r in results)
    lines.append(f"| B's digest = A's = cold's | {same} | yes |")
    envs = [r for r in results if "environments" in r]
    if envs:
        lines.append("")
        lines.append("| build environment (" + ", ".join(r["app"] for r in envs) + ") | seconds |")
        lines.append("|---|---|")
        for r in envs:
            for label, seconds in r["environments"].items():
                lines.append(f"| {r['app']}: {label} | {seconds:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="hello,web", help="apps, comma-separated")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    load = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    # Outside any git repository: the image's timestamps come from the app's last commit, and
    # that of a working tree with commits landing meanwhile would differ from runner to runner.
    with tempfile.TemporaryDirectory(prefix="pybin2img-cicache-") as tmp:
        os.environ["CCACHE_NAMESPACE"] = f"pybin2img-bench-{run}"
        results = [bench_app(name, Path(tmp), run) for name in args.only.split(",")]
    text = table(results)
    after = os.getloadavg()
    text += f"\n{os.cpu_count()} CPUs; load average {load[0]:.1f} before, {after[0]:.1f} after.\n"
    print(text)
    (OUT / "cicache.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
