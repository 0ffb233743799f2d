"""The image config document: the volumes an engine makes writable under --read-only."""

from __future__ import annotations

from pybin2img.oci.documents import ImageConfig, config_document


def test_tmp_is_a_volume_merged_with_the_base_images() -> None:
    base = {"config": {"Volumes": {"/data": {}}}, "history": []}
    config = ImageConfig(
        architecture="amd64",
        entrypoint=("/usr/bin/tini-static", "-s", "--", "/app/app"),
        volumes=("/tmp",),
        base=base,
    )
    run = config_document(config, [])["config"]
    assert run["Volumes"] == {"/data": {}, "/tmp": {}}
    assert run["Entrypoint"] == ["/usr/bin/tini-static", "-s", "--", "/app/app"]


def test_no_volumes_no_key() -> None:
    config = ImageConfig(architecture="amd64", entrypoint=("/app/app",))
    assert "Volumes" not in config_document(config, [])["config"]
