"""Assembly throughput: MB/s of uncompressed rootfs written as a finished image tarball.

A ~100 MB tree of real content (shared libraries from the build machine plus Python source
files, so it compresses like a Nuitka dist does) is written three ways in the same run:

* ``pybin2img``: ``RootfsBuilder`` + ``write_image`` with an empty blob cache (nothing reused);
* ``pybin2img (warm)``: the same, with the blob cache the previous run filled;
* baseline: ``tar -c DIR | gzip -6 > out`` of the same tree.

Each is run several times, alternating, and the median is reported. A phase breakdown of one
cold write (layer tar, gzip, outer tarball) shows where pybin2img spends its time.

    .venv/bin/python bench/assembly.py [--size-mb 100] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from pybin2img.compile.nuitka import default_jobs
from pybin2img.oci.documents import ImageConfig
from pybin2img.oci.layer import Layer
from pybin2img.oci.write import LEVELS, compress, write_image, write_layer_tar
from pybin2img.plan.rootfs import RootfsBuilder
from pybin2img.reference import parse_reference

GZIP_LEVEL = LEVELS["gzip"][1]
ROOT = Path(__file__).resolve().parent.parent
LIBRARY_DIR = Path("/usr/lib/x86_64-linux-gnu")
#: Share of the tree taken from shared libraries; the rest is Python source text.
BINARY_SHARE = 0.7
MB = 1e6


@dataclass(frozen=True, kw_only=True)
class Tree:
    """The input tree that every contender writes."""

    path: Path
    bytes: int
    files: int
    binary_bytes: int
    text_bytes: int


@dataclass(frozen=True, kw_only=True)
class Run:
    """One contender's figures (medians over the rounds)."""

    name: str
    seconds: float
    all_seconds: list[float]
    output_bytes: int
    mb_per_s: float


# --- the input tree ---------------------------------------------------------------------------
def _candidates(directory: Path, pattern: str) -> Iterator[Path]:
    """Regular files (not symlinks) under ``directory`` matching ``pattern``, in a fixed order."""
    for path in sorted(directory.rglob(pattern)):
        if path.is_file() and not path.is_symlink():
            yield path


def _copy_until(sources: Iterator[Path], base: Path, dest: Path, budget: int) -> tuple[int, int]:
    """Copy files from ``sources`` (relative to ``base``) into ``dest`` until ``budget`` bytes."""
    copied = files = 0
    for source in sources:
        if copied >= budget:
            break
        target = dest / source.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, target)
        except OSError:
            continue  # unreadable files are simply not part of the sample
        os.chmod(target, 0o755 if os.access(source, os.X_OK) else 0o644)
        copied += target.stat().st_size
        files += 1
    return copied, files


def make_tree(dest: Path, size: int) -> Tree:
    """A dist-like tree of ``size`` bytes: libraries under lib/, Python sources under text/."""
    binary_budget = int(size * BINARY_SHARE)
    binary, binary_files = _copy_until(
        _candidates(LIBRARY_DIR, "*.so*"), LIBRARY_DIR, dest / "lib", binary_budget
    )
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text, text_files = _copy_until(
        _candidates(stdlib, "*.py"), stdlib, dest / "text", size - binary
    )
    return Tree(
        path=dest,
        bytes=binary + text,
        files=binary_files + text_files,
        binary_bytes=binary,
        text_bytes=text,
    )


# --- contenders -------------------------------------------------------------------------------
def _layers(tree: Path) -> tuple[Layer, ...]:
    # One layer, like a dist's dependencies layer, which holds nearly all of a real image.
    builder = RootfsBuilder()
    builder.layer("dependencies", "benchmark tree")
    builder.add_tree(str(tree), "app")
    return builder.finish()


def write_with_pybin2img(tree: Path, output: Path, blob_cache: Path, scratch: Path) -> int:
    """Plan and write the tree as an image tarball; the tarball's size."""
    workdir = Path(tempfile.mkdtemp(dir=scratch, prefix="work-"))
    try:
        written = write_image(
            layers=_layers(tree),
            config=ImageConfig(architecture="amd64", entrypoint=("/app/lib/none",)),
            reference=parse_reference("pybin2img-bench/assembly:1"),
            annotations={},
            output=output,
            workdir=workdir,
            blob_cache=blob_cache,
            jobs=default_jobs(),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return written.size


def write_with_tar_gzip(tree: Path, output: Path) -> int:
    """``tar -c DIR | gzip -6 > output``: two processes, so tar and gzip overlap on two cores."""
    with output.open("wb") as out:
        tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        gzip = subprocess.run(["gzip", f"-{GZIP_LEVEL}"], stdin=tar.stdout, stdout=out, check=True)
        tar.stdout.close()
        if tar.wait() != 0 or gzip.returncode != 0:
            raise RuntimeError("tar | gzip failed")
    return output.stat().st_size


def _timed(action: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    size = action()
    return time.perf_counter() - start, size


BASELINE = "tar -c | gzip -6 (baseline)"
COLD = "pybin2img"
WARM = "pybin2img (warm blob cache)"


def one_round(tree: Path, scratch: Path) -> dict[str, tuple[float, int]]:
    """Seconds and output bytes of each contender, the baseline first."""
    cache = scratch / "blob-cache"
    cache.mkdir()  # empty: the cold run compresses every layer, the warm one reuses them all
    out = scratch / "out.tar"
    try:
        return {
            BASELINE: _timed(lambda: write_with_tar_gzip(tree, scratch / "out.tar.gz")),
            COLD: _timed(lambda: write_with_pybin2img(tree, out, cache, scratch)),
            WARM: _timed(lambda: write_with_pybin2img(tree, out, cache, scratch)),
        }
    finally:
        shutil.rmtree(cache)


def run_rounds(tree: Tree, scratch: Path, rounds: int) -> list[Run]:
    """Every contender ``rounds`` times, interleaved so that drift hits all of them alike."""
    results = [one_round(tree.path, scratch) for _ in range(rounds)]
    runs = []
    for name in (COLD, WARM, BASELINE):
        seconds = [result[name][0] for result in results]
        median = statistics.median(seconds)
        runs.append(
            Run(
                name=name,
                seconds=median,
                all_seconds=[round(s, 3) for s in seconds],
                output_bytes=results[-1][name][1],
                mb_per_s=tree.bytes / MB / median,
            )
        )
    return runs


# --- where the time goes ----------------------------------------------------------------------
def phases(tree: Tree, scratch: Path) -> dict[str, float]:
    """Seconds per step of one cold pybin2img write, and ``gzip -6`` of the same layer tar."""
    result: dict[str, float] = {}
    start = time.perf_counter()
    (layer,) = _layers(tree.path)
    result["plan (RootfsBuilder)"] = time.perf_counter() - start
    layer_tar = scratch / "layer.tar"
    start = time.perf_counter()
    written = write_layer_tar(layer, layer_tar, mtime=0)
    result["layer tar + sha256 (write_layer_tar)"] = time.perf_counter() - start
    start = time.perf_counter()
    # The same thread pool write_image hands to compress(): one thread per CPU.
    with ThreadPoolExecutor(max_workers=default_jobs()) as pool:
        compress(written.path, scratch / "layer.tar.gz", "gzip", pool)
    result["gzip + sha256 (compress)"] = time.perf_counter() - start
    start = time.perf_counter()
    with layer_tar.open("rb") as src, (scratch / "layer.gz").open("wb") as dst:
        subprocess.run(["gzip", f"-{GZIP_LEVEL}", "-n"], stdin=src, stdout=dst, check=True)
    result["for comparison: gzip -6 of the layer tar"] = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["tar", "-C", str(tree.path), "-c", "."], stdout=subprocess.DEVNULL, check=True)
    result["for comparison: tar -c of the tree"] = time.perf_counter() - start
    for name in ("layer.tar", "layer.tar.gz", "layer.gz"):
        (scratch / name).unlink()
    return result


def profile(tree: Tree, scratch: Path) -> str:
    """cProfile of one cold write: the functions with the most cumulative time."""
    cache = scratch / "profile-cache"
    cache.mkdir()
    profiler = cProfile.Profile()
    profiler.enable()
    write_with_pybin2img(tree.path, scratch / "profile.tar", cache, scratch)
    profiler.disable()
    shutil.rmtree(cache)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    return text.getvalue()


# --- report -----------------------------------------------------------------------------------
def report(tree: Tree, runs: list[Run], steps: dict[str, float]) -> None:
    print(
        f"\ninput tree: {tree.bytes / MB:.1f} MB in {tree.files} files "
        f"({tree.binary_bytes / MB:.1f} MB shared libraries, {tree.text_bytes / MB:.1f} MB "
        f"Python source); {default_jobs()} CPUs\n"
    )
    baseline = runs[-1]
    print(f"{'writer':<32} {'seconds':>8} {'MB/s':>7} {'output MB':>10} {'vs baseline':>12}")
    for run in runs:
        ratio = run.mb_per_s / baseline.mb_per_s
        print(
            f"{run.name:<32} {run.seconds:>8.2f} {run.mb_per_s:>7.1f} "
            f"{run.output_bytes / MB:>10.1f} {ratio:>11.2f}x"
        )
    print("\none cold pybin2img write, step by step:")
    for name, seconds in steps.items():
        print(f"  {name:<44} {seconds:>6.2f} s")
    cold = runs[0].mb_per_s / baseline.mb_per_s
    verdict = "met" if cold >= 1.0 else "NOT MET"
    print(f"\ntarget: pybin2img at least as fast as tar | gzip -6: {verdict} ({cold:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="size of the input tree")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender")
    parser.add_argument("--profile", action="store_true", help="cProfile one cold write")
    parser.add_argument("--json", type=Path, default=ROOT / "build/bench/assembly.json")
    args = parser.parse_args(argv)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pybin2img-bench-assembly-") as tmp:
        scratch = Path(tmp)
        print(f"copying a {args.size_mb:.0f} MB tree ...", file=sys.stderr)
        tree = make_tree(scratch / "tree", int(args.size_mb * MB))
        runs = run_rounds(tree, scratch, args.rounds)
        steps = phases(tree, scratch)
        report(tree, runs, steps)
        if args.profile:
            print("\n" + profile(tree, scratch))
    result = {
        "machine": {"cpus": default_jobs(), "load_average": os.getloadavg(), **_versions()},
        "tree": {**asdict(tree), "path": None},
        "runs": [asdict(run) for run in runs],
        "ratio_cold_vs_baseline": runs[0].mb_per_s / runs[-1].mb_per_s,
        "ratio_warm_vs_baseline": runs[1].mb_per_s / runs[-1].mb_per_s,
        "steps_seconds": steps,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {args.json}")
    return 0


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION}


if __name__ == "__main__":
    sys.exit(main())
