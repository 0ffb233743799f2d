"""pybin2img images against the usual slim-Python image and a static C floor, in one run.

For examples/hello and examples/web:

* pybin2img: cold build (empty ``PYBIN2IMG_CACHE_DIR``), no-op rebuild, rebuild after a
  one-line change of the app (a copy in a temporary directory), image size compressed (the
  tarball) and uncompressed (the layer tars), and container start time;
* slim-Python baseline: a Debian bookworm minbase root (``debootstrap --variant=minbase``) with
  Debian's python3 and pip, the app's requirements installed with pip and the app, slimmed the
  way Debian's ``-slim`` images are, imported with ``docker import`` — what
  ``FROM python:3.11-slim`` gives users; its size and start time;
* floor: a static C hello world (``gcc -static``) in an otherwise empty image: what starting any
  container costs on this engine.

Start time is the median of several runs, interleaved between the images. hello: from
``docker run --rm`` until the client returns after the process exited. web: from
``docker run -d`` until the first HTTP 200 on a port published on 127.0.0.1 (then it is stopped).

Prints the figures and the targets (:func:`targets`: no-op rebuild ≤ 2 s, web's rebuild after a
one-line change ≤ 0.15x its cold build, web ≤ 15 MB and ≤ 1/4 of the slim-Python image, hello
≤ 5 MB, hello's start ≤ 1.1x the floor and below slim-Python's) as Markdown tables (a missed
target is reported, not an error), writes them to build/bench/images.json and removes the images
it created. The debootstrap root is cached under build/bench-cache/, keyed by what went into it.
Needs root (for debootstrap and chroot), gcc and a Docker engine.

    .venv/bin/python bench/images.py [--apps hello,web] [--runs 15]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
PYBIN2IMG = Path(sys.executable).parent / "pybin2img"
RESULTS = ROOT / "build/bench/images.json"
ROOTFS_CACHE = ROOT / "build/bench-cache"
IMAGE_PREFIX = "pybin2img-bench-"
MB = 1e6

SUITE = "bookworm"
BASELINE_PACKAGES = ("python3", "python3-pip")
#: Bumped when the way the baseline root is made changes, so an old cached root is not reused.
BASELINE_RECIPE = 1
#: What Debian's -slim images (debuerreotype --slim) leave out, plus apt's caches, which the
#: python:*-slim Dockerfiles remove too.
SLIM_REMOVE = (
    "usr/share/doc/*/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/groff/*",
    "usr/share/lintian/*",
    "usr/share/linda/*",
    "usr/share/locale/*",
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
)
SLIM_KEEP_SUFFIX = "/copyright"
STATIC_C = b'#include <stdio.h>\nint main(void) { puts("Hello from static C"); return 0; }\n'
#: Environment variables that would point a "cold" build at caches outside its empty cache dir.
FOREIGN_CACHES = ("CCACHE_DIR", "NUITKA_CACHE_DIR", "XDG_CACHE_HOME")
HTTP_TIMEOUT = 60.0
T = TypeVar("T")


class BenchError(Exception):
    """The benchmark itself could not run (a missed target is not an error)."""


@dataclass(frozen=True, kw_only=True)
class App:
    """An example app and how the benchmark exercises it."""

    name: str
    directory: Path
    script: str
    requirements: str | None
    #: The one-line change of the rebuild benchmark: a string the app prints or returns.
    change: tuple[str, str]
    #: What "started" means: the process exited (``exit``) or answered HTTP (``http``).
    ready: str
    #: Text the app's output (exit) or first HTTP response (http) must contain.
    expect: str
    port: int = 8080


APPS = {
    "hello": App(
        name="hello",
        directory=ROOT / "examples/hello",
        script="hello.py",
        requirements=None,
        change=("Hello from a pybin2img image!", "Hello from a changed pybin2img image!"),
        ready="exit",
        expect="Hello from a pybin2img image!",
    ),
    "web": App(
        name="web",
        directory=ROOT / "examples/web",
        script="app.py",
        requirements="requirements.txt",
        change=('service="web",', 'service="web (changed)",'),
        ready="http",
        expect='"service":"web"',
    ),
}


# --- running things ---------------------------------------------------------------------------
def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a program; on failure raise with the tail of its output."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(map(str, argv))} exited with {proc.returncode}:\n{tail}")
    return proc


def docker(*args: str) -> str:
    return run(["docker", *args]).stdout.strip()


def timed_run(argv: Sequence[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = run(argv, **kwargs)
    return time.perf_counter() - start, proc


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"{name} not found; run ci/install-system-packages.sh")
    return path


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise BenchError("run as root: debootstrap and chroot build the slim-Python baseline")
    for program in ("docker", "debootstrap", "chroot", "gcc", "tar", "gzip"):
        _program(program)
    if not PYBIN2IMG.exists():
        raise BenchError(f"{PYBIN2IMG} not found; run make venv")
    docker("version", "--format", "{{.Server.Version}}")


# --- pybin2img --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Build:
    """One ``pybin2img build``: wall-clock seconds of the command and its stage timings."""

    seconds: float
    stages: dict[str, float]
    #: What each stage reported (``15.9 MB dist (cached)``).
    summaries: dict[str, str]
    reference: str
    tarball: str


@dataclass(frozen=True, kw_only=True)
class ImageSize:
    """Sizes of a pybin2img tarball."""

    tarball: int
    layer_blobs: int
    #: Sum of the uncompressed layer tars (what the engine unpacks).
    layer_tars: int
    layers: list[str]


_STAGE = re.compile(r"^(\w+) +(\d+(?:\.\d+)?)s(?:  (.*))?$", re.MULTILINE)


def pybin2img_build(app: App, source: Path, tag: str, output: Path, cache: Path) -> Build:
    argv = [str(PYBIN2IMG), "build", str(source / app.script), "-t", tag, "-o", str(output)]
    if app.requirements:
        argv += ["-r", str(source / app.requirements)]
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_CACHES}
    env["PYBIN2IMG_CACHE_DIR"] = str(cache)
    seconds, proc = timed_run(argv, env=env)
    lines = _STAGE.findall(proc.stderr)
    return Build(
        seconds=seconds,
        stages={name: float(value) for name, value, _ in lines},
        summaries={name: summary for name, _, summary in lines},
        reference=proc.stdout.strip(),
        tarball=str(output),
    )


def tarball_size(path: Path) -> ImageSize:
    """Compressed and uncompressed sizes of the layers named by the tarball's manifest.json."""
    with tarfile.open(path) as tar:
        manifest = json.load(_member(tar, "manifest.json"))[0]
        blobs = uncompressed = 0
        for name in manifest["Layers"]:
            blob = _member(tar, name)
            blobs += tar.getmember(name).size
            uncompressed += _gunzipped_size(blob)
    return ImageSize(
        tarball=path.stat().st_size,
        layer_blobs=blobs,
        layer_tars=uncompressed,
        layers=[name.rsplit("/", 1)[-1] for name in manifest["Layers"]],
    )


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    member = tar.extractfile(name)
    if member is None:
        raise BenchError(f"{tar.name!r}: no file {name}")
    return member


def _gunzipped_size(stream: IO[bytes]) -> int:
    size = 0
    with gzip.GzipFile(fileobj=stream) as gz:
        while chunk := gz.read(1 << 20):
            size += len(chunk)
    return size


def edit_one_line(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if text.count(old) != 1:
        raise BenchError(f"{path}: expected {old!r} exactly once for the one-line change")
    path.write_text(text.replace(old, new))


def bench_pybin2img(app: App, scratch: Path) -> dict[str, Any]:
    """Cold build, no-op rebuild, one-line-change rebuild; load the cold image."""
    source = scratch / "src"
    shutil.copytree(app.directory, source, ignore=shutil.ignore_patterns("__pycache__"))
    cache = scratch / "cache"
    cache.mkdir()  # empty: the first build is cold
    tag = image_name(app, "pybin2img")
    log(f"{app.name}: pybin2img cold build")
    cold = pybin2img_build(app, source, tag, scratch / "cold.tar", cache)
    log(f"{app.name}: pybin2img no-op rebuild")
    noop = pybin2img_build(app, source, tag, scratch / "noop.tar", cache)
    edit_one_line(source / app.script, *app.change)
    log(f"{app.name}: pybin2img rebuild after a one-line change")
    change = pybin2img_build(app, source, tag, scratch / "change.tar", cache)
    load_seconds, _ = timed_run(["docker", "load", "-i", cold.tarball])
    sizes = {name: tarball_size(Path(b.tarball)) for name, b in (("cold", cold), ("noop", noop))}
    sizes["change"] = tarball_size(Path(change.tarball))
    return {
        "image": tag,
        "cold": asdict(cold),
        "noop": asdict(noop),
        "change": asdict(change),
        "size": asdict(sizes["cold"]),
        "layers": {name: size.layers for name, size in sizes.items()},
        "engine_size": engine_size(tag),
        "load_seconds": load_seconds,
        "checks": {
            "noop_same_digest": noop.reference == cold.reference,
            "noop_compile_cached": "(cached)" in noop.summaries.get("compile", ""),
            # An app edit should produce a new app layer only (numbered from 1, bottom up).
            "change_layers_changed": _changed_layers(sizes["noop"].layers, sizes["change"].layers),
            "change_layers_total": len(sizes["change"].layers),
        },
    }


def _changed_layers(before: Sequence[str], after: Sequence[str]) -> list[int]:
    if len(before) != len(after):
        return list(range(1, len(after) + 1))
    return [n for n, (a, b) in enumerate(zip(before, after, strict=True), 1) if a != b]


# --- slim-Python baseline ---------------------------------------------------------------------
def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources), else the CDN."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for stanza in sources.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            if uris and re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.MULTILINE):
                return uris.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        found = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", legacy.read_text(), re.M)
        if found:
            return found.group(1)
    return "http://deb.debian.org/debian"


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


@contextmanager
def _cache_entry(name: str) -> Iterator[tuple[Path, bool]]:
    """``(root, ready)``: a cached root, or a fresh directory that becomes it if the block ends.

    Built under a temporary name and renamed at the end, so an interrupted run never leaves a
    half-made root that a later run would trust.
    """
    final = ROOTFS_CACHE / name
    if (final / "root").is_dir():
        yield final / "root", True
        return
    ROOTFS_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=ROOTFS_CACHE))
    try:
        yield staging / "root", False
        shutil.rmtree(final, ignore_errors=True)  # a leftover without a root inside
        os.replace(staging, final)
    finally:
        if staging.exists():
            unmount_under(staging)
            shutil.rmtree(staging, ignore_errors=True)


def unmount_under(directory: Path) -> None:
    """Unmount whatever debootstrap left mounted inside ``directory`` (proc, sys, … on failure)."""
    prefix = str(directory.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def debian_root(mirror: str) -> Path:
    """The minbase root with python3 and pip, slimmed; cached between runs."""
    key = _key(SUITE, "minbase", BASELINE_PACKAGES, mirror, BASELINE_RECIPE)
    with _cache_entry(f"debian-{SUITE}-{key}") as (root, ready):
        if ready:
            return root
        log(f"baseline: debootstrap --variant=minbase {SUITE} (cached afterwards)")
        try:
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASELINE_PACKAGES)}",
                    SUITE,
                    str(root),
                    mirror,
                ]
            )
        finally:
            unmount_under(root)
        slim(root)
    return ROOTFS_CACHE / f"debian-{SUITE}-{key}" / "root"


def slim(root: Path) -> None:
    for pattern in SLIM_REMOVE:
        for path in root.glob(pattern):
            if str(path).endswith(SLIM_KEEP_SUFFIX):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def python_root(base: Path, app: App) -> Path:
    """``base`` with the app's requirements installed by pip; cached by the requirements."""
    if not app.requirements:
        return base
    requirements = (app.directory / app.requirements).read_bytes()
    key = _key(str(base), requirements)
    with _cache_entry(f"python-{app.name}-{key}") as (root, ready):
        if ready:
            return root
        log(f"baseline: pip install -r {app.requirements} in the {SUITE} root (cached afterwards)")
        run(["cp", "-a", str(base), str(root)])
        pip_install(root, requirements)
    return ROOTFS_CACHE / f"python-{app.name}-{key}" / "root"


def pip_install(root: Path, requirements: bytes) -> None:
    """pip install inside the root with its own python3, as a Dockerfile's RUN line would."""
    (root / "tmp/requirements.txt").write_bytes(requirements)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    env |= {k: v for k, v in os.environ.items() if k.lower().endswith("_proxy")}
    host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_ca.exists():
        # This machine may reach PyPI through a TLS proxy whose CA only the host trusts.
        shutil.copyfile(host_ca, root / "tmp/host-ca.crt")
        env["PIP_CERT"] = "/tmp/host-ca.crt"
    try:
        run(
            [
                _program("chroot"),  # the PATH below is the chroot's, not the host's
                str(root),
                "python3",
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--break-system-packages",  # Debian's python3 is "externally managed"
                "--root-user-action=ignore",
                "--disable-pip-version-check",
                "-r",
                "/tmp/requirements.txt",
            ],
            env=env,
        )
    finally:
        for name in ("requirements.txt", "host-ca.crt"):
            (root / "tmp" / name).unlink(missing_ok=True)


def import_baseline(app: App, root: Path, scratch: Path) -> str:
    """``tar -c ROOT + /app | docker import``, configured like python:3.11-slim plus the app."""
    stage = scratch / "baseline"
    shutil.copytree(app.directory, stage / "app", ignore=shutil.ignore_patterns("__pycache__"))
    name = image_name(app, "slim-python")
    changes = [
        'ENV PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" LANG=C.UTF-8',
        "WORKDIR /app",
        f'ENTRYPOINT ["python3", "/app/{app.script}"]',
    ]
    argv = ["docker", "import", *(arg for c in changes for arg in ("-c", c)), "-", name]
    tar = subprocess.Popen(
        ["tar", "-c", "-C", str(root), ".", "-C", str(stage), "app"], stdout=subprocess.PIPE
    )
    try:
        run(argv, stdin=tar.stdout)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    return name


def saved_gzip_size(image: str) -> int:
    """Bytes of ``docker save IMAGE | gzip -6``: the image as one compressed file."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    gz = subprocess.Popen(["gzip", "-6"], stdin=save.stdout, stdout=subprocess.PIPE)
    assert save.stdout is not None
    assert gz.stdout is not None
    save.stdout.close()  # gzip holds the pipe now
    size = 0
    while chunk := gz.stdout.read(1 << 20):
        size += len(chunk)
    if save.wait() != 0 or gz.wait() != 0:
        raise BenchError(f"docker save {image} | gzip failed")
    return size


def bench_baseline(app: App, base: Path, scratch: Path) -> dict[str, Any]:
    root = python_root(base, app)
    log(f"{app.name}: importing the slim-Python image")
    seconds, name = _timed(lambda: import_baseline(app, root, scratch))
    return {
        "image": name,
        "import_seconds": seconds,
        "engine_size": engine_size(name),
        "saved_gzip_size": saved_gzip_size(name),
    }


# --- floor ------------------------------------------------------------------------------------
def build_floor(scratch: Path) -> str:
    """A static C hello world as the only file of an image."""
    source, binary = scratch / "floor.c", scratch / "floor"
    source.write_bytes(STATIC_C)
    run(["gcc", "-static", "-O2", "-s", "-o", str(binary), str(source)])
    layer = scratch / "floor.tar"
    with tarfile.open(layer, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="hello")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755
        with binary.open("rb") as f:
            tar.addfile(info, f)
    name = f"{IMAGE_PREFIX}floor:static-c"
    run(["docker", "import", "-c", 'ENTRYPOINT ["/hello"]', str(layer), name])
    return name


# --- images in the engine ---------------------------------------------------------------------
def image_name(app: App, flavour: str) -> str:
    return f"{IMAGE_PREFIX}{app.name}:{flavour}"


def engine_size(image: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", image))


def remove_images(names: Sequence[str]) -> None:
    for name in names:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True, check=False)


# --- start time -------------------------------------------------------------------------------
@dataclass
class Starts:
    """Start-time samples of one image."""

    samples: list[float] = field(default_factory=list)
    output: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def start_to_exit(image: str) -> tuple[float, str]:
    """``docker run --rm IMAGE``: seconds until the client returns, and the output."""
    seconds, proc = timed_run(["docker", "run", "--rm", image])
    return seconds, proc.stdout


def start_to_http(image: str, port: int) -> tuple[float, str]:
    """``docker run -d`` until the first HTTP 200 on a published loopback port; then stop it."""
    host_port = free_port()
    start = time.perf_counter()
    container = docker("run", "-d", "-p", f"127.0.0.1:{host_port}:{port}", image)
    try:
        body = first_response(host_port, deadline=start + HTTP_TIMEOUT)
        seconds = time.perf_counter() - start
    finally:
        subprocess.run(["docker", "stop", "-t", "10", container], capture_output=True, check=False)
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return seconds, body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def first_response(port: int, *, deadline: float) -> str:
    """Poll ``GET /`` until it answers 200. docker-proxy accepts connections before the app
    listens and then drops them, so resets count as "not yet"."""
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            if response.status == 200:
                return body
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.005)
    raise BenchError(f"no HTTP 200 on 127.0.0.1:{port} within {HTTP_TIMEOUT:.0f}s")


def measure_starts(app: App, images: Sequence[str], runs: int) -> dict[str, Starts]:
    """``runs`` starts of each image, interleaved, after one discarded warm-up start each."""
    results = {image: Starts() for image in images}
    for index in range(runs + 1):
        for image in images:
            if app.ready == "exit":
                seconds, output = start_to_exit(image)
            else:
                seconds, output = start_to_http(image, app.port)
            if index > 0:
                results[image].samples.append(seconds)
            results[image].output = output
    return results


# --- report -----------------------------------------------------------------------------------
def figures(result: dict[str, Any]) -> dict[str, float | None]:
    """One app's headline figures, derived from its raw results (seconds, MB, ratios)."""
    ours, baseline, start = result["pybin2img"], result["baseline"], result["start"]
    floor = start.get("floor")
    return {
        "cold_s": ours["cold"]["seconds"],
        "cold_compile_s": ours["cold"]["stages"].get("compile"),
        "noop_s": ours["noop"]["seconds"],
        "change_s": ours["change"]["seconds"],
        "change_vs_cold": ours["change"]["seconds"] / ours["cold"]["seconds"],
        "compressed_mb": ours["size"]["tarball"] / MB,
        "uncompressed_mb": ours["size"]["layer_tars"] / MB,
        "engine_mb": ours["engine_size"] / MB,
        "baseline_compressed_mb": baseline["saved_gzip_size"] / MB,
        "baseline_engine_mb": baseline["engine_size"] / MB,
        "compressed_vs_baseline": ours["size"]["tarball"] / baseline["saved_gzip_size"],
        "engine_vs_baseline": ours["engine_size"] / baseline["engine_size"],
        "start_s": start["pybin2img"],
        "baseline_start_s": start["slim-python"],
        "floor_start_s": floor,
        "start_vs_floor": start["pybin2img"] / floor if floor else None,
        "start_vs_baseline": start["pybin2img"] / start["slim-python"],
    }


#: (row label, figure key, unit, how it is measured)
ROWS = (
    ("pybin2img: cold build", "cold_s", "s", "empty PYBIN2IMG_CACHE_DIR, whole command"),
    ("pybin2img: cold build, compile stage", "cold_compile_s", "s", "its stage timing"),
    ("pybin2img: no-op rebuild", "noop_s", "s", "same command again"),
    ("pybin2img: one-line change rebuild", "change_s", "s", "a string in the app changed"),
    ("pybin2img: one-line change / cold build", "change_vs_cold", "x", ""),
    ("pybin2img: image compressed", "compressed_mb", "MB", "the tarball"),
    ("pybin2img: image uncompressed", "uncompressed_mb", "MB", "sum of the layer tars"),
    ("pybin2img: image in the engine", "engine_mb", "MB", "docker image size"),
    ("slim-Python: image compressed", "baseline_compressed_mb", "MB", "docker save, gzip -6"),
    ("slim-Python: image in the engine", "baseline_engine_mb", "MB", "docker image size"),
    ("size: pybin2img / slim-Python, compressed", "compressed_vs_baseline", "x", ""),
    ("size: pybin2img / slim-Python, in the engine", "engine_vs_baseline", "x", ""),
    ("start: pybin2img", "start_s", "s", "median, see below"),
    ("start: slim-Python", "baseline_start_s", "s", "median, see below"),
    ("start: static C floor", "floor_start_s", "s", "gcc -static hello in an empty image"),
    ("start: pybin2img / floor", "start_vs_floor", "x", ""),
    ("start: pybin2img / slim-Python", "start_vs_baseline", "x", ""),
)
_FORMATS = {"s": "{:.2f} s", "MB": "{:.1f} MB", "x": "{:.2f}x"}


@dataclass(frozen=True, kw_only=True)
class Target:
    text: str
    met: bool
    figures: str


def targets(apps: dict[str, dict[str, Any]]) -> list[Target]:
    """The targets pybin2img's images are held to, each with the figures it was judged on
    (``apps``: name -> figures)."""
    found = [
        Target(
            text="no-op rebuild ≤ 2 s",
            met=all(f["noop_s"] <= 2.0 for f in apps.values()),
            figures=", ".join(f"{name} {f['noop_s']:.2f} s" for name, f in apps.items()),
        )
    ]
    if web := apps.get("web"):
        found += [
            Target(
                text="one-line change rebuild of web ≤ 0.15x its cold build",
                met=web["change_vs_cold"] <= 0.15,
                figures=f"{web['change_vs_cold']:.3f}x "
                f"({web['change_s']:.1f} s / {web['cold_s']:.1f} s)",
            ),
            Target(
                text="web image ≤ 15 MB compressed",
                met=web["compressed_mb"] <= 15,
                figures=f"{web['compressed_mb']:.1f} MB",
            ),
            Target(
                text="web image ≤ 1/4 of the slim-Python image (compressed)",
                met=web["compressed_vs_baseline"] <= 0.25,
                figures=f"{web['compressed_vs_baseline']:.3f}x "
                f"({web['compressed_mb']:.1f} MB / {web['baseline_compressed_mb']:.1f} MB)",
            ),
        ]
    if hello := apps.get("hello"):
        found += [
            Target(
                text="hello image ≤ 5 MB compressed",
                met=hello["compressed_mb"] <= 5,
                figures=f"{hello['compressed_mb']:.1f} MB",
            ),
            Target(
                text="start of hello ≤ 1.1x the static C floor",
                met=hello["start_vs_floor"] <= 1.1,
                figures=f"{hello['start_vs_floor']:.2f}x "
                f"({hello['start_s']:.3f} s / {hello['floor_start_s']:.3f} s)",
            ),
            Target(
                text="start of hello below the slim-Python image",
                met=hello["start_s"] < hello["baseline_start_s"],
                figures=f"{hello['start_s']:.3f} s vs {hello['baseline_start_s']:.3f} s",
            ),
        ]
    return found


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def report(result: dict[str, Any]) -> str:
    """The figures and the targets as Markdown tables."""
    apps: dict[str, dict[str, Any]] = result["figures"]
    rows = [
        [label, *(_cell(f[key], unit) for f in apps.values()), note]
        for label, key, unit, note in ROWS
    ]
    figure_table = markdown_table(["figure", *apps, "measured as"], rows)
    target_table = markdown_table(
        ["target", "result", "figures"],
        [
            [t["text"], "met" if t["met"] else "**not met**", t["figures"]]
            for t in result["targets"]
        ],
    )
    runs = result["environment"]["start_runs"]
    note = (
        f"Start: median of {runs} runs per image, interleaved. hello: `docker run --rm IMAGE` "
        "until the client returns after the process exited; web: `docker run -d -p "
        "127.0.0.1:PORT:8080 IMAGE` until the first HTTP 200 from `GET /` (then `docker stop`)."
    )
    return f"{figure_table}\n\n{note}\n\n{target_table}\n\n{_checks(result['apps'])}\n"


def _checks(apps: dict[str, dict[str, Any]]) -> str:
    """What the rebuilds say about pybin2img's caches and reproducibility."""
    lines = []
    for name, result in apps.items():
        c = result["pybin2img"]["checks"]
        lines.append(
            f"{name}: no-op rebuild "
            f"{'reused the compiled dist' if c['noop_compile_cached'] else 'compiled again'}, "
            f"{'same' if c['noop_same_digest'] else 'DIFFERENT'} manifest digest; "
            f"one-line change gave new layer(s) {c['change_layers_changed']} "
            f"of {c['change_layers_total']} (1 = bottom)"
        )
    return "\n".join(lines)


def _cell(value: float | None, unit: str) -> str:
    return "-" if value is None else _FORMATS[unit].format(value)


# --- main -------------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def bench_app(app: App, base: Path, floor: str, scratch: Path, runs: int) -> dict[str, Any]:
    # The baseline first: it is quick, and a failure there should not waste a cold build.
    baseline = bench_baseline(app, base, scratch)
    result = {"pybin2img": bench_pybin2img(app, scratch), "baseline": baseline}
    images = {"pybin2img": result["pybin2img"]["image"], "slim-python": result["baseline"]["image"]}
    if app.ready == "exit":
        images["floor"] = floor
    log(f"{app.name}: {runs} starts of each image")
    starts = measure_starts(app, list(images.values()), runs)
    result["start"] = {key: starts[image].median for key, image in images.items()}
    result["start_samples"] = {key: starts[image].samples for key, image in images.items()}
    result["outputs"] = {key: starts[image].output.strip() for key, image in images.items()}
    # Both images run the same app: each must answer what the app says, or the timing is moot.
    for key in ("pybin2img", "baseline"):
        image = result[key]["image"]
        if app.expect not in starts[image].output:
            raise BenchError(f"{image} did not print {app.expect!r}: {starts[image].output!r}")
    return result


def source_fingerprint() -> str:
    """Hash of pybin2img's sources: the install is editable, so an edit mid-run changes builds."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def environment(runs: int, load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    def out(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "cpus": len(os.sched_getaffinity(0)),
        "start_runs": runs,
        # Other work on the machine skews every timing: recorded so a reader can tell.
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "kernel": platform.release(),
        "docker": docker("version", "--format", "{{.Server.Version}}"),
        "python": platform.python_version(),
        "commit": out("git", "-C", str(ROOT), "rev-parse", "HEAD"),
        "src_modified": bool(out("git", "-C", str(ROOT), "status", "--porcelain", "src")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", default="hello,web", help="comma-separated: hello,web")
    parser.add_argument("--runs", type=int, default=15, help="container starts per image")
    parser.add_argument("--mirror", default=None, help="Debian mirror [default: apt's]")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    apps = [APPS[name] for name in args.apps.split(",")]
    created: list[str] = []
    load_at_start = os.getloadavg()
    sources_at_start = source_fingerprint()
    try:
        check_prerequisites()
        base = debian_root(args.mirror or debian_mirror())
        result: dict[str, Any] = {"apps": {}}
        with tempfile.TemporaryDirectory(prefix="pybin2img-bench-") as tmp:
            floor = build_floor(Path(tmp))
            created.append(floor)
            for app in apps:
                created += [image_name(app, "pybin2img"), image_name(app, "slim-python")]
                scratch = Path(tmp, app.name)
                scratch.mkdir()
                result["apps"][app.name] = bench_app(app, base, floor, scratch, args.runs)
        result["figures"] = {name: figures(r) for name, r in result["apps"].items()}
        result["targets"] = [asdict(t) for t in targets(result["figures"])]
        result["environment"] = environment(args.runs, load_at_start)
        result["environment"]["src_changed_during_run"] = source_fingerprint() != sources_at_start
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    finally:
        remove_images(created)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    if result["environment"]["src_changed_during_run"]:
        print("warning: src/ changed during the run; the builds used different pybin2img code")
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
