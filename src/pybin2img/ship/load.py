"""Load stage: the tarball -> an image in a Docker engine, through the docker SDK."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import EngineError
from ..oci import LayerBlob


def docker_client(docker_env: Mapping[str, str]) -> Any:
    """A docker SDK client for ``DOCKER_HOST`` (or the default socket), checked with a ping."""
    import docker  # imported here: only load (and tests) need it, and it is slow to import

    host = docker_env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient.from_env(environment=dict(docker_env))
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
        raise EngineError(
            f"the Docker engine at {host} is not reachable ({_reason(exc)}); "
            "start it or set DOCKER_HOST"
        ) from exc
    return client


#: The first Docker Engine release whose ``docker load`` reads zstd layers (moby's
#: ``archive.DecompressStream`` decompresses zstd from 23.0 on; 20.10 fails with
#: "archive/tar: invalid tar header").
ZSTD_DOCKER = 23


def zstd_problem(client: Any) -> str | None:
    """Why the engine behind ``client`` cannot load zstd layers, or ``None`` when it can.

    Docker Engine can from release 23; podman's Docker-compatible service always could
    (containers/image); an engine that does not say what it is is given the benefit.
    """
    try:
        version = client.version()
    except Exception:  # noqa: BLE001 - an engine that will not say is not refused for it
        return None
    components = {str(c.get("Name", "")) for c in version.get("Components") or ()}
    if any("podman" in name.lower() for name in components):
        return None
    release = str(version.get("Version", ""))
    major = release.split(".", 1)[0]
    if major.isdigit() and int(major) < ZSTD_DOCKER:
        return (
            f"Docker {release}, which cannot load zstd layers (Docker {ZSTD_DOCKER} and newer can)"
        )
    return None


def has_zstd(layers: Iterable[LayerBlob]) -> bool:
    """Whether any of ``layers`` is compressed with zstd."""
    return any(layer.descriptor.media_type.endswith("zstd") for layer in layers)


def check_engine(docker_env: Mapping[str, str], zstd: str | None) -> None:
    """Fail now (:class:`EngineError`) when the engine cannot be reached, or cannot load the
    image's zstd layers (``zstd`` says why it has them): the checks ``--load`` makes before a
    compile."""
    client = docker_client(docker_env)
    try:
        problem = zstd_problem(client) if zstd else None
    finally:
        client.close()
    if problem is not None:
        host = docker_env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise EngineError(
            f"--load: the Docker engine at {host} is {problem}, and {zstd}; build with gzip "
            "layers, or load into a newer engine"
        )


def find_image(client: Any, image_ids: Sequence[str]) -> Any | None:
    """The engine's image known by one of ``image_ids``, or ``None``.

    The image's ID is its config's digest in Docker's own image store, its manifest's in the
    containerd image store (Docker's default for new installations from 29, an option from 24):
    ``image_ids`` gives both.
    """
    import docker

    for image_id in image_ids:
        try:
            return client.images.get(image_id)
        except docker.errors.ImageNotFound:
            continue
    return None


def load_image(tarball: Path, *, image_ids: Sequence[str], docker_env: Mapping[str, str]) -> None:
    """``docker load`` the tarball and check the engine now has the image under one of
    ``image_ids`` (see :func:`find_image`)."""
    import docker
    import requests

    client = docker_client(docker_env)
    try:
        with tarball.open("rb") as f:
            client.images.load(f)
        loaded = find_image(client, image_ids)
    except docker.errors.APIError as exc:
        raise EngineError(f"the Docker engine refused {tarball}: {exc.explanation or exc}") from exc
    except docker.errors.ImageLoadError as exc:  # the engine's error, in the load's stream
        raise EngineError(f"the Docker engine refused {tarball}: {_reason(exc)}") from exc
    except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
        raise EngineError(
            f"the Docker engine failed while loading {tarball} ({_reason(exc)}); is it running?"
        ) from exc
    except OSError as exc:
        raise EngineError(f"cannot read {tarball}: {exc.strerror}") from exc
    finally:
        client.close()
    if loaded is None:
        raise EngineError(
            f"the Docker engine loaded {tarball} but has no image {' or '.join(image_ids)}"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    reason = text[-1] if text else type(exc).__name__
    return reason[:200]
