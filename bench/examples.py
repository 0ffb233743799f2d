"""Every example in examples/, built cold: image size and build time, as a Markdown table.

Each example is built with an empty ``PYBIN2IMG_CACHE_DIR`` (no build environment, no Nuitka or
ccache files, no compiled dist, no layer blobs): the time a first build on a fresh machine takes.
Prints the table the README shows and writes build/bench/examples.json.

    .venv/bin/python bench/examples.py [--only hello,web]
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
}


def build(name: str, scratch: Path) -> dict[str, object]:
    app, extra, exercises = CORPUS[name]
    cache = scratch / f"cache-{name}"
    meta = scratch / f"{name}.json"
    args = [str(EXAMPLES / a) if a.endswith(".txt") else a for a in extra]
    argv = [
        sys.executable, "-m", "pybin2img", "build", str(EXAMPLES / app),
        "-t", f"pybin2img-bench/{name}:cold", "-o", str(scratch / f"{name}.tar"),
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
    names = parser.parse_args().only
    chosen = names.split(",") if names else list(CORPUS)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pybin2img-examples-") as tmp:
        for name in chosen:
            print(f"building {name} cold ...", file=sys.stderr, flush=True)
            rows.append(build(name, Path(tmp)))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "examples.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
