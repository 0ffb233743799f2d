"""Start-up and run time of pybin2img's programs against the interpreter that built them, the
slim-Python image and PyInstaller, in one run.

* hello, run directly on this machine: instructions (``valgrind --tool=callgrind``: exact and
  repeatable even when other work shares the CPUs), CPU time and peak RSS (``wait4``), for the
  program from the pybin2img image, the build interpreter running ``hello.py`` (``-I -S``, and
  with ``site``) and PyInstaller's onedir program; and, where Debian's ``/usr/bin/python3`` is
  there, hello built with it (``--python``) as pybin2img links it and with Nuitka's own choice
  of libpython (``libpython3.X-pic.a``), against its ``-I -S``;
* web and fastapi: the time from exec to the first HTTP 200, on this machine (the programs
  directly; the slim-Python root through ``chroot``) and in the engine (``docker run -d`` with
  a published port), for pybin2img, slim-Python and PyInstaller, and for pybin2img built with
  Debian's ``/usr/bin/python3`` where it is there (the CPython build slim-Python runs);
* web and fastapi again, without a server: the instructions (callgrind) to import the app and,
  for web, answer one request through Flask's test client (``PROBES``), for the program built
  from that probe and for the build interpreter running it, and the same built with Debian's
  ``/usr/bin/python3`` against that interpreter; the exact figures behind the first-200 times;
* kernels (bench/apps/kernels.py, pyperformance-style CPU-bound pure Python): CPU seconds per
  kernel in the pybin2img image, the slim-Python image and the PyInstaller image, and on this
  machine under the build interpreter (the same CPython build pybin2img's program embeds;
  Debian's python3 in slim-Python is another build);
* PyInstaller (onedir, from PyPI, in a venv with the app's requirements; ``PYINSTALLER_CONFIG_DIR``
  empty, so cold) put into an image by pybin2img's own pipeline (same base files, loader,
  libraries found by ELF inspection, tini): its cold build time and image size.

The slim-Python images are bench/images.py's (a debootstrap bookworm root with Debian's python3,
cached in build/bench-cache/). pybin2img builds use the shared cache (their cold build times are
bench/examples.py's and bench/corpus.py's). Timings are medians of interleaved runs with their
spread; the machine may be shared, so instruction counts are the figures to trust for hello.
Writes build/bench/startup.json and prints Markdown tables. Needs root, valgrind, a Docker
engine and network access to PyPI (PyInstaller).

    .venv/bin/python bench/startup.py [--apps hello,web,fastapi,kernels] [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import images  # bench/images.py: the slim-Python baseline

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench" / "startup.json"
PREFIX = "pybin2img-bench-startup-"
#: Debian's own interpreter, built from the PGO-optimised archive pybin2img links with it.
DEBIAN_PYTHON = Path("/usr/bin/python3")
#: Nuitka's own choice of libpython for it, the baseline of that comparison.
DEBIAN_PIC = ("--nuitka-arg=--static-libpython=yes",)
#: The pybin2img program built with Debian's python3, in the web apps' figures.
DEBIAN_BUILT = "pybin2img, /usr/bin/python3"
#: The images each app's run makes.
FLAVOURS = ("pybin2img", "pyinstaller", "debian", "debian-pic")


@dataclass(frozen=True)
class App:
    name: str
    script: Path
    requirements: Path | None
    #: ``exit`` (runs to the end) or ``http`` (a server on $PORT).
    ready: str
    expect: str
    args: tuple[str, ...] = ()


APPS = {
    "hello": App("hello", ROOT / "examples/hello/hello.py", None, "exit", "Hello from"),
    "web": App(
        "web",
        ROOT / "examples/web/app.py",
        ROOT / "examples/web/requirements.txt",
        "http",
        '"service":"web"',
    ),
    "fastapi": App(
        "fastapi",
        ROOT / "examples/fastapi/app.py",
        ROOT / "examples/fastapi/requirements.txt",
        "http",
        '"service":"fastapi"',
    ),
    "kernels": App(
        "kernels", ROOT / "bench/apps/kernels.py", None, "exit", '"checksums"', ("--repeat", "3")
    ),
}


#: What the web apps' probes run (bench_imports): the app's module imported, and for web one
#: request through Flask's test client; uvicorn.run("app:app") imports the app by name.
PROBES = {
    "web": "import app\n\nprint(app.app.test_client().get('/').status_code)\n",
    "fastapi": "import uvicorn\n\nimport app\n\nprint(type(app.app).__name__, uvicorn.__name__)\n",
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return images.run(argv, **kwargs)


# --- pybin2img ----------------------------------------------------------------------------------
def pybin2img(
    app: App, scratch: Path, flavour: str = "pybin2img", extra: Sequence[str] = ()
) -> dict[str, Any]:
    """Build ``app`` (with ``extra`` arguments) into the image ``flavour``; its /app here."""
    tarball = scratch / f"{app.name}-{flavour}.tar"
    meta = scratch / f"{app.name}-{flavour}.json"
    argv = [
        sys.executable, "-m", "pybin2img", "build", str(app.script), "-t", image(app, flavour),
        "-o", str(tarball), "--metadata-file", str(meta), "--load", "-q",
        *(["-r", str(app.requirements)] if app.requirements else []),
        *(["--port", "8080"] if app.ready == "http" else []),
        *extra,
    ]  # fmt: skip
    log(f"{app.name}: pybin2img build ({flavour})")
    start = time.monotonic()
    run(argv)
    seconds = time.monotonic() - start
    result = json.loads(meta.read_text())
    dist = scratch / f"{app.name}-{flavour}-app"
    extract_app(tarball, dist)
    return {
        "image": image(app, flavour),
        "build_seconds": round(seconds, 1),
        "compressed_bytes": result["size"],
        "uncompressed_bytes": result["uncompressed_size"],
        "python": result["python"]["executable"],
        "program": [str(dist / app.script.stem)],
    }


def extract_app(tarball: Path, into: Path) -> None:
    """The image's /app from its layers: the program as it ships, to run on this machine."""
    import tarfile

    staging = into.parent / ".extract"
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(layer), mode="r:gz") as inner:
                members = [m for m in inner.getmembers() if m.name.startswith("app/")]
                inner.extractall(staging, members=members, filter="tar")
    shutil.rmtree(into, ignore_errors=True)
    (staging / "app").rename(into)
    shutil.rmtree(staging)


def image(app: App, flavour: str) -> str:
    return f"{PREFIX}{app.name}:{flavour}"


# --- PyInstaller --------------------------------------------------------------------------------
def pyinstaller(app: App, scratch: Path, python: str) -> dict[str, Any]:
    """A venv with PyInstaller and the app's requirements, ``pyinstaller --onedir`` (cold: an
    empty config dir), then an image of its bundle made by pybin2img's pipeline."""
    venv = scratch / f"{app.name}-pyinstaller-venv"
    start = time.monotonic()
    run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run([*pip, "pyinstaller", *(["-r", str(app.requirements)] if app.requirements else [])])
    environment_seconds = time.monotonic() - start
    work = scratch / f"{app.name}-pyinstaller"
    env = {**os.environ, "PYINSTALLER_CONFIG_DIR": str(work / "config")}
    hidden = ["--hidden-import", "app"] if app.name == "fastapi" else []  # uvicorn.run("app:app")
    log(f"{app.name}: pyinstaller --onedir")
    start = time.monotonic()
    run(
        [
            str(venv / "bin/pyinstaller"),
            "--onedir",
            "--noconfirm",
            "--strip",  # pyenv's libpython is not stripped; Debian's is
            "--log-level",
            "WARN",
            "--distpath",
            str(work / "dist"),
            "--workpath",
            str(work / "build"),
            "--specpath",
            str(work),
            *hidden,
            str(app.script),
        ],
        env=env,
        cwd=app.script.parent,
    )
    freeze_seconds = time.monotonic() - start
    version = run([str(venv / "bin/pyinstaller"), "--version"]).stdout.strip()
    bundle = work / "dist" / app.script.stem
    tarball = scratch / f"{app.name}-pyinstaller.tar"
    start = time.monotonic()
    size, uncompressed = bundle_image(app, bundle, tarball, scratch)
    return {
        "image": image(app, "pyinstaller"),
        "version": version,
        "environment_seconds": round(environment_seconds, 1),
        "freeze_seconds": round(freeze_seconds, 1),
        "image_seconds": round(time.monotonic() - start, 1),
        "compressed_bytes": size,
        "uncompressed_bytes": uncompressed,
        "program": [str(bundle / app.script.stem)],
    }


def bundle_image(app: App, bundle: Path, tarball: Path, scratch: Path) -> tuple[int, int]:
    """pybin2img's build with its compile stage replaced by the PyInstaller bundle: the same
    base files, loader and libraries (found by ELF inspection), tini and start check."""
    from unittest import mock

    from pybin2img import build as pipeline
    from pybin2img.compile.nuitka import CompileResult
    from pybin2img.log import Log
    from pybin2img.options import build_options
    from pybin2img.settings import Project, merge

    given = {
        "tag": (image(app, "pyinstaller"), "flag"),
        "output": (tarball, "flag"),
        "load": (True, "flag"),
        **({"port": (("8080",), "flag")} if app.ready == "http" else {}),
        **({"requirements": (app.requirements, "flag")} if app.requirements else {}),
    }
    values, sources = merge(given, Project())
    options = build_options(
        values,
        sources=sources,
        app=app.script,
        project=Project(),
        environ={k: v for k, v in os.environ.items() if k.startswith("PYBIN2IMG_")},
        default_python=Path(sys.executable),
    )

    def frozen(_options: Any, target: Any, interpreter: Any, *_: Any, **__: Any) -> Any:
        return CompileResult(
            dist_dir=bundle,
            binary=bundle / target.binary_name,
            interpreter=interpreter,
            log_file=scratch / "pyinstaller.log",
        )

    with mock.patch.object(pipeline, "compile_app", frozen):
        result = pipeline.build_image(options, Log(verbosity=-1))
    return result.size, sum(layer.uncompressed_size for layer in result.layers)


# --- measuring ----------------------------------------------------------------------------------
def instructions(argv: Sequence[str], cwd: Path) -> int:
    """Instructions executed, summed over the processes (PyInstaller's onedir program execs
    itself once to set its library path)."""
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",
            "--callgrind-out-file=/dev/null",
            *argv,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    counts = [
        int(line.rsplit(":", 1)[1]) for line in proc.stderr.splitlines() if "Collected :" in line
    ]
    if not counts:
        raise images.BenchError(f"callgrind gave no count for {argv}")
    return sum(counts)


def _env(**more: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **more}


def run_once(argv: Sequence[str], cwd: Path, expect: str) -> tuple[dict[str, float], str]:
    """CPU time (``wait4``) and peak RSS of one run. The RSS comes from GNU time's ``%M``: a
    child forked from this Python process would count the parent's pages it shared before its
    exec as its own peak."""
    with tempfile.NamedTemporaryFile(mode="r") as rss:
        start = time.perf_counter()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
        assert proc.stdout is not None
        output = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        peak = float(rss.read().split()[-1])
    if os.waitstatus_to_exitcode(status) != 0 or expect not in output:
        raise images.BenchError(f"{argv} failed: {output[-1500:]}")
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    return {"cpu_ms": cpu, "wall_ms": wall * 1000, "rss_kib": peak}, output


def serve_once(argv: Sequence[str], cwd: Path, expect: str, chroot: Path | None = None) -> float:
    """Seconds from exec to the first HTTP 200 of ``GET /`` (the program on this machine)."""
    port = images.free_port()
    command = ["chroot", str(chroot), *argv] if chroot else list(argv)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(PORT=str(port)),
    )
    try:
        body = images.first_response(port, deadline=start + images.HTTP_TIMEOUT)
        seconds = time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if expect not in body.replace(" ", ""):
        raise images.BenchError(f"{argv} answered {body[:200]!r}")
    return seconds


def spread(samples: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def in_engine(app: App, name: str) -> tuple[float, str]:
    if app.ready == "http":
        seconds, output = images.start_to_http(name, 8080)
        return seconds, output
    seconds, proc = images.timed_run(["docker", "run", "--rm", name, *app.args])
    return seconds, proc.stdout


# --- per app ------------------------------------------------------------------------------------
def bench_hello(app: App, programs: dict[str, list[str]], runs: int) -> dict[str, Any]:
    cwd = app.script.parent
    counts = {name: instructions(argv, cwd) for name, argv in programs.items()}
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in programs}
    for _ in range(runs + 1):  # the first round warms the page cache and is dropped
        for name, argv in programs.items():
            figures, _ = run_once(argv, cwd, app.expect)
            samples[name].append(figures)
    result = {}
    for name, rows in samples.items():
        kept = rows[1:]
        result[name] = {
            "instructions": counts[name],
            **{key: spread([r[key] for r in kept]) for key in kept[0]},
        }
    return result


def bench_http(
    app: App, programs: dict[str, list[str]], slim_root: Path, images_: dict[str, str], runs: int
) -> dict[str, Any]:
    host: dict[str, list[float]] = {name: [] for name in programs}
    host["slim-python (chroot)"] = []
    inside = slim_root / "opt/pybin2img-bench"  # the app in the cached root, for this run
    shutil.rmtree(inside, ignore_errors=True)
    shutil.copytree(app.script.parent, inside, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        return _bench_http(app, programs, slim_root, images_, runs, host)
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def _bench_http(
    app: App,
    programs: dict[str, list[str]],
    slim_root: Path,
    images_: dict[str, str],
    runs: int,
    host: dict[str, list[float]],
) -> dict[str, Any]:
    engine: dict[str, list[float]] = {name: [] for name in images_}
    cwd = app.script.parent
    for index in range(runs + 1):
        for name, argv in programs.items():
            seconds = serve_once(argv, cwd, app.expect)
            if index:
                host[name].append(seconds)
        seconds = serve_once(
            ["python3", f"/opt/pybin2img-bench/{app.script.name}"], slim_root, app.expect, slim_root
        )
        if index:
            host["slim-python (chroot)"].append(seconds)
        for name, tag in images_.items():
            seconds, _ = in_engine(app, tag)
            if index:
                engine[name].append(seconds)
    return {
        "host_first_200_s": {k: spread(v) for k, v in host.items()},
        "engine_first_200_s": {k: spread(v) for k, v in engine.items()},
    }


def probe_app(app: App, directory: Path) -> App:
    """The probe of ``app`` (:data:`PROBES`) in ``directory``, as an app of its own."""
    return App(f"{app.name}-probe", directory / "probe.py", app.requirements, "exit", "")


def bench_imports(app: App, scratch: Path, python: str) -> dict[str, Any]:
    """Instructions to import ``app`` (and answer one request, for web): the program built from
    its probe against the build interpreter running the probe, and the same with Debian's
    python3 where it is there. Each interpreter runs the probe once first (its ``.pyc``)."""
    source = scratch / f"{app.name}-probe-source"
    shutil.copytree(app.script.parent, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "probe.py").write_text(PROBES[app.name])
    probe = probe_app(app, source)
    built = {"pybin2img": pybin2img(probe, scratch)}
    programs = {
        "pybin2img": built["pybin2img"]["program"],
        "build interpreter": [python, "probe.py"],
    }
    if DEBIAN_PYTHON.is_file():
        built["debian"] = pybin2img(probe, scratch, "debian", ("--python", str(DEBIAN_PYTHON)))
        programs[DEBIAN_BUILT] = built["debian"]["program"]
        programs["its interpreter"] = [built["debian"]["python"], "probe.py"]
    images.remove_images([b["image"] for b in built.values()])
    counts = {}
    for name, argv in programs.items():
        run(argv, cwd=source)
        counts[name] = instructions(argv, source)
    return counts


def bench_kernels(
    app: App, programs: dict[str, list[str]], images_: dict[str, str], runs: int
) -> dict[str, Any]:
    per: dict[str, list[dict[str, float]]] = {}
    checksums: dict[str, Any] = {}
    for _ in range(runs):
        for name, argv in programs.items():
            _, output = run_once([*argv, *app.args], app.script.parent, app.expect)
            data = json.loads(output.strip().splitlines()[-1])
            per.setdefault(f"{name} (host)", []).append(data["seconds"])
            checksums[name] = data["checksums"]
        for name, tag in images_.items():
            _, output = in_engine(app, tag)
            data = json.loads(output.strip().splitlines()[-1])
            per.setdefault(f"{name} (engine)", []).append(data["seconds"])
            checksums[name] = data["checksums"]
    if len({json.dumps(c, sort_keys=True) for c in checksums.values()}) != 1:
        raise images.BenchError(f"kernels disagree: {checksums}")
    return {
        where: {k: spread([r[k] for r in rows]) for k in rows[0]} for where, rows in per.items()
    }


# --- main ---------------------------------------------------------------------------------------
def bench_app(app: App, scratch: Path, base: Path, runs: int) -> dict[str, Any]:
    ours = pybin2img(app, scratch)
    frozen = pyinstaller(app, scratch, ours["python"])
    python = ours["python"]
    result: dict[str, Any] = {"pybin2img": ours, "pyinstaller": frozen}
    images_ = {"pybin2img": ours["image"], "pyinstaller": frozen["image"]}
    if app.name != "hello":
        slim = images.App(
            name=f"startup-{app.name}",
            directory=app.script.parent,
            script=app.script.name,
            requirements=app.requirements.name if app.requirements else None,
            change=("", ""),
            ready=app.ready,
            expect=app.expect,
        )
        root = images.python_root(base, slim)
        result["slim-python"] = images.bench_baseline(slim, root, scratch)
        images_["slim-python"] = result["slim-python"]["image"]
    debian_programs: dict[str, list[str]] = {}
    if app.name == "hello" and DEBIAN_PYTHON.is_file():
        # Debian's own python3: the program links the archive it is made of (README "With
        # Debian's own Python..."), against Nuitka's choice, libpython3.X-pic.a.
        python3 = ("--python", str(DEBIAN_PYTHON))
        debian = pybin2img(app, scratch, "debian", python3)
        pic = pybin2img(app, scratch, "debian-pic", (*python3, *DEBIAN_PIC))
        result["debian"] = {"pybin2img": debian, "pic": pic}
        debian_programs = {
            "pybin2img, /usr/bin/python3": debian["program"],
            "pybin2img, /usr/bin/python3, Nuitka's -pic.a": pic["program"],
            "/usr/bin/python3 -I -S": [str(DEBIAN_PYTHON), "-I", "-S", app.script.name],
        }
    log(f"{app.name}: measuring")
    if app.name == "hello":
        programs = {
            "pybin2img": ours["program"],
            f"{python} -I -S": [python, "-I", "-S", app.script.name],
            f"{python}": [python, app.script.name],
            "/usr/bin/python3": ["/usr/bin/python3", app.script.name],
            "pyinstaller": frozen["program"],
            **debian_programs,
        }
        result["host"] = bench_hello(app, programs, runs)
        result["engine_start_s"] = {
            name: spread([in_engine(app, tag)[0] for _ in range(runs)])
            for name, tag in images_.items()
        }
    elif app.ready == "http":
        programs = {
            "pybin2img": ours["program"],
            "build interpreter": [python, app.script.name],
            "pyinstaller": frozen["program"],
        }
        if DEBIAN_PYTHON.is_file():
            # Built with Debian's python3, the CPython build slim-Python runs: only the program
            # differs from slim-Python's then.
            debian = pybin2img(app, scratch, "debian", ("--python", str(DEBIAN_PYTHON)))
            result["debian"] = {"pybin2img": debian}
            programs[DEBIAN_BUILT] = debian["program"]
            images_[DEBIAN_BUILT] = debian["image"]
        result |= bench_http(app, programs, root, images_, runs)
        log(f"{app.name}: instructions of its import")
        result["import_instructions"] = bench_imports(app, scratch, python)
    else:
        programs = {
            "pybin2img": ours["program"],
            "build interpreter": [python, app.script.name],
            "pyinstaller": frozen["program"],
        }
        result["seconds"] = bench_kernels(app, programs, images_, max(3, runs // 3))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument("--keep", action="store_true", help="keep the other apps' results")
    args = parser.parse_args()
    for program in ("valgrind", "docker", "chroot"):
        if not shutil.which(program):
            print(f"bench: error: {program} not found", file=sys.stderr)
            return 1
    result: dict[str, Any] = {"apps": {}, "load_average_at_start": os.getloadavg()}
    if args.keep and args.json.exists():  # add to an earlier run's apps
        result["apps"] = json.loads(args.json.read_text())["apps"]
    created: list[str] = []
    try:
        base = images.debian_root(images.debian_mirror())
        with tempfile.TemporaryDirectory(prefix="pybin2img-startup-") as tmp:
            for name in args.apps.split(","):
                app = APPS[name]
                created += [image(app, f) for f in FLAVOURS]
                created += [image(probe_app(app, app.script.parent), f) for f in FLAVOURS]
                created.append(images.image_name(images.App(
                    name=f"startup-{name}", directory=ROOT, script="", requirements=None,
                    change=("", ""), ready="", expect="",
                ), "slim-python"))  # fmt: skip
                scratch = Path(tmp, name)
                scratch.mkdir()
                result["apps"][name] = bench_app(app, scratch, base, args.runs)
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(result, indent=2) + "\n")
    except images.BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    finally:
        images.remove_images(created)
    result["load_average_at_end"] = os.getloadavg()
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


def report(result: dict[str, Any]) -> str:
    out = []
    apps = result["apps"]
    if hello := apps.get("hello"):
        base = next(v for k, v in hello["host"].items() if k.endswith("-I -S"))
        debian = hello["host"].get("/usr/bin/python3 -I -S")
        rows = [
            "| hello on this machine | instructions | vs `-I -S` | CPU ms | peak RSS "
            "| vs `-I -S` |",
            "|---|---|---|---|---|---|",
        ]
        for name, h in hello["host"].items():
            cpu = h["cpu_ms"]
            # Programs built with Debian's python3 against its own -I -S, the rest against the
            # build interpreter's.
            debians = name.startswith("pybin2img, /usr/bin/python3")
            debians = debians or name == "/usr/bin/python3 -I -S"
            ref = debian if debians and debian is not None else base
            rows.append(
                f"| {name} | {h['instructions'] / 1e6:.1f} M "
                f"| {h['instructions'] / ref['instructions']:.2f}x "
                f"| {cpu['median']:.1f} ({cpu['min']:.0f}-{cpu['max']:.0f}) "
                f"| {h['rss_kib']['median'] / 1024:.1f} MiB "
                f"| {h['rss_kib']['median'] / ref['rss_kib']['median']:.2f}x |"
            )
        out.append("\n".join(rows))
    rows = [
        "| app | figure | pybin2img | pybin2img, Debian's python3 | slim-Python | PyInstaller |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in apps.items():
        ours, frozen, slim = r["pybin2img"], r["pyinstaller"], r.get("slim-python")
        theirs = r.get("debian", {}).get("pybin2img") if name != "hello" else None
        slim_size = f"{slim['saved_gzip_size'] / 1e6:.1f} MB" if slim else "-"
        theirs_size = f"{theirs['compressed_bytes'] / 1e6:.1f} MB" if theirs else "-"
        rows.append(
            f"| {name} | image, compressed | {ours['compressed_bytes'] / 1e6:.1f} MB "
            f"| {theirs_size} | {slim_size} | {frozen['compressed_bytes'] / 1e6:.1f} MB |"
        )
        frozen_total = frozen["environment_seconds"] + frozen["freeze_seconds"]
        theirs_build = f"{theirs['build_seconds']:.0f} s" if theirs else "-"
        rows.append(
            f"| {name} | build (PyInstaller: environment + freeze) "
            f"| {ours['build_seconds']:.0f} s (shared cache) | {theirs_build} | - "
            f"| {frozen_total:.0f} s ({frozen['freeze_seconds']:.0f} s freeze) |"
        )
        for key, label in (
            ("engine_start_s", "start in the engine (to exit)"),
            ("engine_first_200_s", "first HTTP 200 in the engine"),
            ("host_first_200_s", "first HTTP 200, process on this machine"),
        ):
            if key in r:
                cell = {k: f"{v['median']:.3f} s" for k, v in r[key].items()}
                slim_cell = cell.get("slim-python", cell.get("slim-python (chroot)", "-"))
                rows.append(
                    f"| {name} | {label} | {cell.get('pybin2img', '-')} "
                    f"| {cell.get(DEBIAN_BUILT, '-')} | {slim_cell} "
                    f"| {cell.get('pyinstaller', '-')} |"
                )
        if counts := r.get("import_instructions"):
            theirs_count = counts.get(DEBIAN_BUILT)
            base_count = counts.get("its interpreter")
            against = (
                f"{theirs_count / 1e6:,.1f} M ({theirs_count / base_count:.2f}x its interpreter)"
                if theirs_count and base_count
                else "-"
            )
            rows.append(
                f"| {name} | import (and a test request for web), instructions "
                f"| {counts['pybin2img'] / 1e6:,.1f} M "
                f"({counts['pybin2img'] / counts['build interpreter']:.2f}x the build "
                f"interpreter's {counts['build interpreter'] / 1e6:,.1f} M) | {against} | | |"
            )
        if "seconds" in r:
            for where, kernels in r["seconds"].items():
                total = sum(v["median"] for v in kernels.values())
                rows.append(f"| {name} | CPU s, all kernels: {where} | {total:.2f} s | | | |")
    out.append("\n".join(rows))
    out.append(
        f"load average {result['load_average_at_start']} at start, "
        f"{result.get('load_average_at_end')} at end (a shared machine)"
    )
    return "\n\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
