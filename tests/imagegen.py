"""Small image tarballs for tests, written by pybin2img's own writer without Nuitka."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from pybin2img.oci.documents import ImageConfig
from pybin2img.oci.write import WrittenImage, write_image
from pybin2img.plan.rootfs import RootfsBuilder
from pybin2img.reference import parse_reference


def write_test_image(
    output: Path,
    layers: Sequence[Mapping[str, bytes | Path]],
    *,
    entrypoint: tuple[str, ...] = ("/app/hello",),
    reference: str = "test/image:1",
    architecture: str = "amd64",
    variant: str | None = None,
) -> WrittenImage:
    """One layer per mapping of image path -> bytes (mode 0644) or a host file (mode 0755),
    for ``architecture`` (its files need not be of that machine: nothing here runs them)."""
    builder = RootfsBuilder()
    for number, files in enumerate(layers):
        builder.layer(f"layer{number}", f"test layer {number}")
        for path, content in sorted(files.items()):
            if isinstance(content, Path):
                builder.add_file(path, str(content), mode=0o755)
            else:
                builder.add_data(path, content)
    with tempfile.TemporaryDirectory(dir=output.parent) as work:
        return write_image(
            layers=builder.finish(),
            config=ImageConfig(
                architecture=architecture,
                variant=variant,
                entrypoint=entrypoint,
                created=1700000000,
            ),
            reference=parse_reference(reference),
            annotations={},
            output=output,
            workdir=Path(work),
        )
