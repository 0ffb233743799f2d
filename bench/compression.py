"""Layer compression: the size and the time of each ``--compression``/``--compression-level``
against the default (gzip 6), on the layers of real images built in the same run.

Each image (examples/hello and examples/web unless tarballs are given) is built once with
pybin2img; its layers are decompressed and compressed again by pybin2img's own compressor
(``pybin2img.oci.write.compress``, the code ``build`` runs, with one thread per CPU) at each
setting, with no blob cache. The tarball adds some kilobytes of documents and tar headers to the
layers' sum.

    .venv/bin/python bench/compression.py [IMAGE.tar ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pybin2img.compile.nuitka import default_jobs
from pybin2img.oci import open_archive
from pybin2img.oci.write import compress

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [("gzip", 6), ("gzip", 9), ("zstd", 3), ("zstd", 9), ("zstd", 19)]
APPS = {
    "hello": ["examples/hello/hello.py"],
    "web": ["examples/web/app.py", "-r", "examples/web/requirements.txt"],
}


def build(name: str, argv: list[str], out: Path) -> Path:
    tarball = out / f"{name}.tar"
    print(f"building {name} ...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "pybin2img", "build", *argv, "-t", f"bench/{name}", "-o", tarball],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return tarball


def layer_tars(tarball: Path, scratch: Path) -> list[Path]:
    """The image's layers, uncompressed, as files."""
    tars = []
    with open_archive(tarball) as archive:
        for index, layer in enumerate(archive.layers):
            path = scratch / f"{tarball.stem}-{index}.tar"
            with archive.open_layer(layer) as stream, path.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            tars.append(path)
    return tars


def measure(tars: list[Path], scratch: Path, jobs: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(jobs) as pool:
        for compression, level in SETTINGS:
            start = time.perf_counter()
            size = sum(
                compress(tar, scratch / "blob", compression, pool, jobs, level).size for tar in tars
            )
            figures[f"{compression}-{level}"] = {
                "bytes": size,
                "seconds": time.perf_counter() - start,
            }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", type=Path, help="image tarballs [default: build]")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench-compression.json")
    args = parser.parse_args(argv)
    jobs = default_jobs()
    results: dict[str, object] = {"jobs": jobs}
    with tempfile.TemporaryDirectory(prefix="bench-compression-") as tmp:
        scratch = Path(tmp)
        images = args.images or [build(name, argv, scratch) for name, argv in APPS.items()]
        for tarball in images:
            tars = layer_tars(tarball, scratch)
            raw = sum(tar.stat().st_size for tar in tars)
            figures = measure(tars, scratch, jobs)
            results[tarball.stem] = {"uncompressed": raw, **figures}
            base = figures["gzip-6"]
            print(
                f"\n{tarball.stem}: {len(tars)} layers, {raw / 1e6:.2f} MB uncompressed, "
                f"{jobs} jobs"
            )
            print(f"{'layers as':<10} {'MB':>7} {'vs gzip-6':>10} {'seconds':>8} {'vs gzip-6':>10}")
            for name, figure in figures.items():
                print(
                    f"{name:<10} {figure['bytes'] / 1e6:>7.2f} "
                    f"{figure['bytes'] / base['bytes']:>9.2f}x {figure['seconds']:>8.2f} "
                    f"{figure['seconds'] / base['seconds']:>9.2f}x"
                )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
