"""What to compile to C, measured on the corpus: third-party packages as bytecode (the default)
against compiled to C, and against CPython running the app.

For each corpus example (web, fastapi, django, cli, pandas, db):

* ``bytecode``: the default build, cold (an empty ``PYBIN2IMG_CACHE_DIR``): every third-party
  package shipped as bytecode, the app's own code compiled;
* ``compiled``: the build pybin2img made before, third-party packages compiled to C but
  pygments, Django and pydantic (``--bytecode pygments --bytecode django --bytecode
  pydantic``); cold too with ``--cold-compiled``, else with the shared cache (its ccache
  files make it quicker, so its build time is not a cold figure and is not reported as one);
* ``cpython``: the build environment's interpreter running the app's source (what the image
  replaces).

Each build's image size and build time, then a workload, the programs run directly on this
machine (the /app of each image tarball, extracted): servers answer ``ab`` (apache2-utils) for
a fixed number of requests; their requests per second and the server's CPU time per request
(from /proc: robust when other work shares the CPUs) are measured, and the time from exec to
the first HTTP 200. Command-line examples are run whole; their CPU time (user + system, from
``wait4``) and wall-clock time are measured, and then, once each, the instructions the whole run
executes (``valgrind --tool=callgrind``: exact, where a run of a quarter second varies by a tenth
on a shared machine). Runs are interleaved between the three, N rounds, medians with min-max.

Writes build/bench/corpus.json and prints Markdown tables.

    .venv/bin/python bench/corpus.py [--only web,cli] [--rounds 5] [--cold-compiled]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OUT = ROOT / "build" / "bench" / "corpus.json"
WORK = ROOT / "build" / "bench-work" / "corpus"
#: The default list before third-party packages went as bytecode by default.
COMPILED = ("--bytecode", "pygments", "--bytecode", "django", "--bytecode", "pydantic")
FOREIGN_CACHES = ("CCACHE_DIR", "NUITKA_CACHE_DIR", "XDG_CACHE_HOME")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Example:
    app: str
    extra: tuple[str, ...]
    #: ``http`` (a server on $PORT, then ``ab`` on ``path``) or ``run`` (run with ``args``).
    kind: str
    path: str = "/"
    args: tuple[str, ...] = ()
    #: Text the output (run) or the answer (http) must hold.
    expect: str = ""


CORPUS = {
    "web": Example("web/app.py", ("--port", "8080"), "http", "/add?a=1&b=2", expect='"sum":3'),
    "fastapi": Example(
        "fastapi/app.py", ("--port", "8080"), "http", "/items/3?q=x", expect='"double":6'
    ),
    "django": Example("django/server.py", (), "run", args=("check",), expect='"users": 1'),
    "cli": Example("cli/cli.py", (), "run", args=("report",), expect="Stock"),
    "pandas": Example("pandas/sales.py", (), "run", expect='"revenue"'),
    "db": Example("db/store.py", (), "run", expect='"counts"'),
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- builds -----------------------------------------------------------------------------------
def build(name: str, flavour: str, scratch: Path, *, cold: bool) -> dict[str, Any]:
    example = CORPUS[name]
    app = EXAMPLES / example.app
    tarball = scratch / f"{name}-{flavour}.tar"
    meta = scratch / f"{name}-{flavour}.json"
    argv = [
        sys.executable, "-m", "pybin2img", "build", str(app),
        "-r", str(app.parent / "requirements.txt"),
        "-t", f"pybin2img-bench/{name}:{flavour}", "-o", str(tarball), "--metadata-file", str(meta),
        "-q", *example.extra, *(COMPILED if flavour == "compiled" else ()),
    ]  # fmt: skip
    env = dict(os.environ)
    if cold:
        env = {k: v for k, v in env.items() if k not in FOREIGN_CACHES}
        env["PYBIN2IMG_CACHE_DIR"] = str(scratch / f"cache-{name}-{flavour}")
    log(f"{name}: {flavour} build{' (cold)' if cold else ''}")
    start = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    seconds = time.monotonic() - start
    if cold:  # keep its logs and build environment (CPython runs the app from it), not the rest
        cache = Path(env["PYBIN2IMG_CACHE_DIR"])
        for part in cache.iterdir():
            if part.name not in ("logs", "envs"):
                shutil.rmtree(part, ignore_errors=True)
    result = json.loads(meta.read_text())
    dist = scratch / f"{name}-{flavour}-app"
    extract_app(tarball, dist)
    return {
        "cold": cold,
        "build_seconds": round(seconds, 1),
        "compile_seconds": result["timings"].get("compile"),
        "compressed_bytes": result["size"],
        "uncompressed_bytes": result["uncompressed_size"],
        "bytecode": result.get("bytecode", []),
        "compile_profile": result.get("compile_profile", [])[:6],
        "python": result["python"]["executable"],
        "binary": str(dist / Path(example.app).stem),
    }


def extract_app(tarball: Path, into: Path) -> None:
    """The image's /app, from its layers: the program as it ships."""
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(layer), mode="r:gz") as inner:
                members = [m for m in inner.getmembers() if m.name.startswith("app/")]
                inner.extractall(into.parent / ".extract", members=members, filter="tar")
    shutil.rmtree(into, ignore_errors=True)
    (into.parent / ".extract" / "app").rename(into)
    shutil.rmtree(into.parent / ".extract")


# --- running ----------------------------------------------------------------------------------
def command(name: str, flavour: str, builds: dict[str, Any]) -> tuple[list[str], Path]:
    example = CORPUS[name]
    if flavour == "cpython":
        app = EXAMPLES / example.app
        python = builds["bytecode"]["python"]
        return [python, str(app), *example.args], app.parent
    binary = Path(builds[flavour]["binary"])
    return [str(binary), *example.args], binary.parent


def run_once(argv: list[str], cwd: Path, expect: str) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env()
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or expect not in output:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {output[-2000:]}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "rss_kib": usage.ru_maxrss}


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/tmp"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def first_200(
    port: int, path: str, deadline: float, proc: subprocess.Popen[bytes], output: Any
) -> str:
    while time.perf_counter() < deadline and proc.poll() is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            if response.status == 200:
                return body
        except (OSError, http.client.HTTPException):
            time.sleep(0.005)
        finally:
            connection.close()
    output.seek(0)
    said = output.read().decode(errors="replace")[-2000:]
    raise RuntimeError(f"{proc.args}: no HTTP 200 on port {port} (exit {proc.poll()}): {said}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def serve_once(
    argv: list[str], cwd: Path, path: str, expect: str, requests: int
) -> dict[str, float]:
    with tempfile.TemporaryFile() as output:
        return _serve_once(argv, cwd, path, expect, requests, output)


def _serve_once(
    argv: list[str], cwd: Path, path: str, expect: str, requests: int, output: Any
) -> dict[str, float]:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**_env(), "PORT": str(port)},
    )
    try:
        body = first_200(port, path, start + 60, proc, output)
        to_first = time.perf_counter() - start
        if expect not in body.replace(" ", ""):
            raise RuntimeError(f"{argv}: {body[:300]}")
        before = cpu_seconds(proc.pid)
        ab = subprocess.run(
            ["ab", "-q", "-k", "-c", "8", "-n", str(requests), f"http://127.0.0.1:{port}{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        spent = cpu_seconds(proc.pid) - before
        rate = float(re.search(r"Requests per second:\s+([\d.]+)", ab).group(1))  # type: ignore[union-attr]
        failed = int(re.search(r"Failed requests:\s+(\d+)", ab).group(1))  # type: ignore[union-attr]
        if failed:
            raise RuntimeError(f"{argv}: {failed} failed requests")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"first_200_s": to_first, "req_per_s": rate, "cpu_ms_per_req": spent * 1000 / requests}


def instructions(argv: list[str], cwd: Path, expect: str) -> int | None:
    """The instructions a whole run executes (``valgrind --tool=callgrind``): exact from run
    to run, where CPU time on a shared 2-CPU machine varies by a tenth; None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=cwd,
        capture_output=True,
        env=_env(),
        check=False,
    )
    said = proc.stderr.decode(errors="replace")
    found = re.search(r"Collected : (\d+)", said)
    if proc.returncode != 0 or expect not in proc.stdout.decode(errors="replace") or not found:
        raise RuntimeError(f"{argv} under callgrind exited {proc.returncode}: {said[-2000:]}")
    return int(found.group(1))


def workloads(name: str, builds: dict[str, Any], rounds: int, requests: int) -> dict[str, Any]:
    example = CORPUS[name]
    samples: dict[str, list[dict[str, float]]] = {f: [] for f in (*builds, "cpython")}
    for n in range(rounds):
        for flavour, rows in samples.items():
            argv, cwd = command(name, flavour, builds)
            if example.kind == "http":
                rows.append(serve_once(argv, cwd, example.path, example.expect, requests))
            else:
                rows.append(run_once(argv, cwd, example.expect))
        log(f"{name}: round {n + 1} of {rounds}")
    measured: dict[str, Any] = {flavour: summary(rows) for flavour, rows in samples.items()}
    if example.kind == "run":
        for flavour, summed in measured.items():
            log(f"{name}: {flavour} under callgrind")
            summed["instructions"] = instructions(*command(name, flavour, builds), example.expect)
    return measured


def summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        key: {
            "median": statistics.median(r[key] for r in rows),
            "min": min(r[key] for r in rows),
            "max": max(r[key] for r in rows),
        }
        for key in rows[0]
    }


# --- report -----------------------------------------------------------------------------------
def tables(result: dict[str, Any]) -> str:
    lines = [
        "| example | program | build | image (compressed) | workload | CPU | CPU vs CPython "
        "| instructions vs CPython |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["examples"].items():
        http = CORPUS[name].kind == "http"
        key = "cpu_ms_per_req" if http else "cpu_s"
        base = r["workload"]["cpython"][key]["median"]
        for flavour, w in r["workload"].items():
            b = r["builds"].get(flavour)
            built = "-"
            size = "-"
            if b and "build_seconds" in b:
                built = f"{b['build_seconds']:.0f} s" + ("" if b["cold"] else " (warm cache)")
                size = f"{b['compressed_bytes'] / 1e6:.1f} MB"
            elif b:
                built = "built before"
            if http:
                load = (
                    f"{w['req_per_s']['median']:,.0f} req/s, "
                    f"first 200 after {w['first_200_s']['median']:.2f} s"
                )
                cpu = f"{w[key]['median']:.3f} ms/request"
            else:
                load = f"{w['wall_s']['median']:.2f} s"
                cpu = f"{w[key]['median']:.2f} s"
            cpu += f" ({w[key]['min']:.3g}-{w[key]['max']:.3g})"
            ratio = f"{w[key]['median'] / base:.2f}x"
            counted = "-"
            if w.get("instructions") and r["workload"]["cpython"].get("instructions"):
                counted = (
                    f"{w['instructions'] / 1e6:,.1f} M, "
                    f"{w['instructions'] / r['workload']['cpython']['instructions']:.2f}x"
                )
            cells = [f"`{name}`", flavour, built, size, load, cpu, ratio, counted]
            lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(CORPUS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cold-compiled", action="store_true")
    parser.add_argument("--no-compiled", action="store_true", help="only the default build")
    parser.add_argument(
        "--compiled-from",
        action="append",
        default=[],
        metavar="NAME=TARBALL",
        help="the compiled flavour of NAME is this image tarball (built before), not a build",
    )
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.compiled_from)
    if not shutil.which("ab"):
        print("bench: error: ab not found (apt-get install apache2-utils)", file=sys.stderr)
        return 1
    result: dict[str, Any] = {"examples": {}, "load_average_at_start": os.getloadavg()}
    for name in args.only.split(","):
        scratch = WORK / name  # kept after the run: tarballs, programs, the cold caches' logs
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        builds = {"bytecode": build(name, "bytecode", scratch, cold=True)}
        if name in given:
            dist = scratch / f"{name}-compiled-app"
            extract_app(Path(given[name]), dist)
            builds["compiled"] = {
                "given": given[name],
                "binary": str(dist / Path(CORPUS[name].app).stem),
            }
        elif not args.no_compiled:
            builds["compiled"] = build(name, "compiled", scratch, cold=args.cold_compiled)
        result["examples"][name] = {"builds": builds}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")  # the builds, in case
        measured = workloads(name, builds, args.rounds, args.requests)
        result["examples"][name] = {"builds": builds, "workload": measured}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")  # after each example
    result["load_average_at_end"] = os.getloadavg()
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(tables(result))
    print(
        f"\nload average {result['load_average_at_start']} at start, "
        f"{result['load_average_at_end']} at end (a shared machine); results: {args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
