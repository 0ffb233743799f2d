"""Every example in examples/, built cold: image size and build time, as a Markdown table.

Each example is built with an empty ``PYBIN2IMG_CACHE_DIR`` (no build environment, no Nuitka or
ccache files, no compiled dist, no layer blobs): the time a first build on a fresh machine takes.
Prints the table the README shows and writes build/bench/examples.json. With ``--baseline``,
each one is also built cold with ``--bytecode none`` (every package compiled to C, as before
pybin2img shipped pygments as bytecode), and the ratio of the two build times is printed.

    .venv/bin/python bench/examples.py [--only hello,web] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OUT = ROOT / "build" / "bench"

#: name -> (app, extra build arguments, what it exercises)
CORPUS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "hello": ("hello/hello.py", (), "arguments, exit code, non-root, read-only root"),
    "threads": ("threads/threads.py", (), "daemon threads at exit (libgcc_s.so.1)"),
    "data": ("data/greeter", (), "a package with __main__.py reading its data files"),
    "https-client": (
        "https-client/client.py",
        (),
        "CA bundle at OpenSSL's OPENSSLDIR and SSL_CERT_FILE, a verified TLS connection",
    ),
    "web": (
        "web/app.py",
        ("-r", "web/requirements.txt", "--port", "8080"),
        "Flask JSON service on $PORT, clean stop on SIGTERM",
    ),
    "numeric": (
        "numeric/numeric.py",
        ("-r", "numeric/requirements.txt"),
        "numpy with its bundled OpenBLAS ($ORIGIN RPATH)",
    ),
    "filetype": (
        "filetype/filetype.py",
        ("--trace",),
        "libmagic loaded through ctypes.util.find_library, and its database: found by --trace",
    ),
    "cli": (
        "cli/cli.py",
        ("-r", "cli/requirements.txt"),
        "typer + rich: help, tables, pygments highlighting (pygments shipped as bytecode)",
    ),
    "fastapi": (
        "fastapi/app.py",
        ("-r", "fastapi/requirements.txt", "--port", "8080"),
        'FastAPI + pydantic served by uvicorn.run("app:app"): a module named in a string',
    ),
    "django": (
        "django/server.py",
        ("-r", "django/requirements.txt"),
        "Django: settings module, INSTALLED_APPS, migrations, admin templates and static files",
    ),
    "pandas": (
        "pandas/sales.py",
        ("-r", "pandas/requirements.txt", "--bytecode", "pandas", "--bytecode", "numpy"),
        "pandas: CSV, groupby, pivot, resampling in Europe/Paris (tzdata)",
    ),
    "db": (
        "db/store.py",
        ("-r", "db/requirements.txt", "--bytecode", "sqlalchemy"),
        "SQLAlchemy ORM, dialects by URL; psycopg2-binary's bundled libpq",
    ),
    "onnx": (
        "onnx/infer.py",
        ("-r", "onnx/requirements.txt", "--include-data", "onnx/model.onnx=model.onnx"),
        "ONNX Runtime (C++, libstdc++) running a model shipped as a data file",
    ),
}


def build(name: str, scratch: Path, *more: str) -> dict[str, object]:
    app, extra, exercises = CORPUS[name]
    label = name + ("-baseline" if more else "")
    cache = scratch / f"cache-{label}"
    meta = scratch / f"{label}.json"
    args = [str(EXAMPLES / a) if "/" in a and not a.startswith("-") else a for a in extra]
    if more:  # the baseline replaces the example's own --bytecode choices
        kept: list[str] = []
        for arg in args:
            if kept and kept[-1] == "--bytecode":
                kept.pop()  # the flag and its value
            else:
                kept.append(arg)
        args = kept + list(more)
    argv = [
        sys.executable, "-m", "pybin2img", "build", str(EXAMPLES / app),
        "-t", f"pybin2img-bench/{name}:cold", "-o", str(scratch / f"{label}.tar"),
        "--metadata-file", str(meta), "-q", *args,
    ]  # fmt: skip
    start = time.monotonic()
    subprocess.run(
        argv,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYBIN2IMG_CACHE_DIR": str(cache)},
    )
    seconds = time.monotonic() - start
    result = json.loads(meta.read_text())
    return {
        "example": name,
        "compressed_bytes": result["size"],
        "uncompressed_bytes": result["uncompressed_size"],
        "cold_build_seconds": round(seconds, 1),
        "compile_seconds": result["timings"].get("compile"),
        "layers": len(result["layers"]),
        "compile_profile": result.get("compile_profile", [])[:6],
        "exercises": exercises,
    }


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| example | image (compressed) | uncompressed | cold build | what it exercises |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['example']}` | {int(r['compressed_bytes']) / 1e6:.1f} MB "  # type: ignore[call-overload]
            f"| {int(r['uncompressed_bytes']) / 1e6:.1f} MB "  # type: ignore[call-overload]
            f"| {r['cold_build_seconds']} s | {r['exercises']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated examples (default: all)")
    parser.add_argument(
        "--baseline", action="store_true", help="also build each with --bytecode none"
    )
    options = parser.parse_args()
    chosen = options.only.split(",") if options.only else list(CORPUS)
    rows = []
    baselines = []
    with tempfile.TemporaryDirectory(prefix="pybin2img-examples-") as tmp:
        for name in chosen:
            print(f"building {name} cold ...", file=sys.stderr, flush=True)
            rows.append(build(name, Path(tmp)))
            if options.baseline:
                print(f"building {name} cold with --bytecode none ...", file=sys.stderr)
                baselines.append(build(name, Path(tmp), "--bytecode", "none"))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "examples.json").write_text(json.dumps(rows + baselines, indent=2) + "\n")
    print(table(rows))
    if baselines:
        print("\n| example | cold build | with --bytecode none | ratio |\n|---|---|---|---|")
        for row, base in zip(rows, baselines, strict=True):
            ratio = float(row["cold_build_seconds"]) / float(base["cold_build_seconds"])  # type: ignore[arg-type]
            print(
                f"| `{row['example']}` | {row['cold_build_seconds']} s "
                f"| {base['cold_build_seconds']} s | {ratio:.2f} |"
            )


if __name__ == "__main__":
    main()
