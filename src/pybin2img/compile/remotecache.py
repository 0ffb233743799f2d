"""The cache repository (``--cache-repo``): what is slow to make, shared between machines
through a registry, so that a fresh CI runner builds like a warm one.

What the repository holds, each under a tag of its own (pybin2img's media types, every blob
content-addressed, reached with the credentials, TLS settings and retries of a push)::

    dist-<compile key>    an OCI index of the dists compiled under that key, newest first; each
                          an artifact whose config records the app's source files with their
                          hashes (as the local cache does) and whose layer is the dist (tar.gz)
    nuitka-<compile key>  Nuitka's module cache for the modules of that key's last compile:
                          its Python-level work, reused when only the app's code changed
    env-<env key>         a build environment (the venv of ``-r``), as a tar.gz

A dist is used only when every source file it records has the same hash here; every blob is
checked against its digest as it downloads, and anything that is not as pybin2img stored it
counts as a miss. A repository that is unreachable, slow, refuses the credentials or holds a
corrupt entry never fails a build: one warning line, and the build goes on without it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from .._version import __version__
from ..cache import Cache, file_digest
from ..errors import InvalidImageError, Pybin2imgError, RegistryError, UsageError
from ..log import Log
from ..oci import MEDIA_INDEX, MEDIA_MANIFEST, canonical_json, sha256_digest
from ..options import CacheRepoOptions
from ..reference import parse_reference
from .distcache import entry_path, new_entry
from .trees import TREE_TYPE, UnsafeTree, pack_tree, unpack_tree

if TYPE_CHECKING:  # requests is slow to import: only a build with --cache-repo needs it
    from ..registry import RegistryClient, RetryPolicy

T = TypeVar("T")

#: ``artifactType`` of each kind of entry.
ARTIFACT_TYPES = {
    "dist": "application/vnd.pybin2img.dist.v1",
    "nuitka": "application/vnd.pybin2img.nuitka-module-cache.v1",
    "env": "application/vnd.pybin2img.env.v1",
}
#: The config of every entry: what it is and what it was made from (JSON).
CONFIG_TYPE = "application/vnd.pybin2img.cache.config.v1+json"
#: Dists kept under one compile key (a branch and main taking turns, say).
KEEP = 4
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_CONFIG = 16 << 20
#: Top-level names of a build environment that are markers of this cache, not of the venv.
_ENV_MARKERS = ".pybin2img"


class _Corrupt(Exception):
    """What the repository holds is not what pybin2img stores there."""


#: What makes an entry unusable: the registry, the network, the content, the local disk.
_FAILURES = (
    RegistryError,
    InvalidImageError,
    _Corrupt,
    UnsafeTree,
    OSError,
    ValueError,
    tarfile.TarError,
    EOFError,
    zlib.error,
)


class RemoteCache:
    """One build's access to the cache repository: connected on first use, one warning line
    and no further use once anything goes wrong."""

    def __init__(
        self, options: CacheRepoOptions, log: Log, *, retry: RetryPolicy | None = None
    ) -> None:
        from ..registry import RetryPolicy

        self._options = options
        self._log = log
        # A cache is worth a little patience, not a stalled CI job: two tries, short waits.
        self._retry = retry or RetryPolicy(attempts=2, delay=0.5, max_delay=2.0)
        self.name = f"{options.reference.registry}/{options.reference.normalized_path}"
        self._client: RegistryClient | None = None
        self._failed = False
        self._said_read_only = False
        #: Tag -> digest of the layer a lookup found, so that an unchanged one is not sent back.
        self._found: dict[str, str] = {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- dists ---------------------------------------------------------------------------------

    def fetch_dist(self, cache: Cache, key: str, name: str) -> Path | None:
        """The dist compiled under ``key`` from source files with the hashes they have here,
        downloaded into the local cache as an entry of its own; ``None`` when there is none."""
        return self._run(
            "compiling locally", lambda client: self._fetch_dist(client, cache, key, name)
        )

    def store_dist(self, cache: Cache, key: str, entry: Path, name: str) -> None:
        """Upload the local cache entry ``entry`` (compiled under ``key``) and list it first
        under ``dist-<key>``."""
        if self._writable():
            self._run(
                "the build goes on without uploading",
                lambda client: self._store_dist(client, cache, key, entry, name),
            )

    def _fetch_dist(self, client: RegistryClient, cache: Cache, key: str, name: str) -> Path | None:
        tag = f"dist-{key}"
        found = _document(client, tag, MEDIA_INDEX)
        if found is None:
            self._log.detail(f"cache repository {self.name}: no dist under {tag}")
            return None
        for listed in _descriptors(found[0], "manifests")[:KEEP]:
            manifest = _document(client, listed["digest"], MEDIA_MANIFEST)
            if manifest is None:
                raise _Corrupt(f"{tag} lists {listed['digest'][:19]}, which is not there")
            config, layer = _parts(manifest[0], "dist")
            document = _config(client, config)
            if document.get("key") != key or document.get("binary") != name:
                raise _Corrupt(f"{listed['digest'][:19]} under {tag} is another dist")
            sources = _strings(document.get("sources"), "sources")
            contents = document.get("contents")
            if not isinstance(contents, dict):
                raise _Corrupt(f"{listed['digest'][:19]} has no contents")
            if not all(_hash_or_none(path) == digest for path, digest in sources.items()):
                continue  # made from other sources than these
            start = time.monotonic()
            with cache.workspace() as scratch:
                tree = self._download_tree(client, layer, scratch, absolute_links=False)
                if not (tree / name).is_file():
                    raise _Corrupt(f"the dist {listed['digest'][:19]} has no {name}")
                with new_entry(cache, key, sources) as staging:
                    os.replace(tree, staging / "dist")
                    (staging / "contents.json").write_text(json.dumps(contents, indent=1))
            self._log.detail(
                f"cache repository {self.name}: dist {listed['digest'][:19]} under {tag} "
                f"({layer['size'] / 1e6:.1f} MB) in {time.monotonic() - start:.1f}s"
            )
            return entry_path(cache, key, sources)
        self._log.detail(f"cache repository {self.name}: no dist under {tag} for these sources")
        return None

    def _store_dist(
        self, client: RegistryClient, cache: Cache, key: str, entry: Path, name: str
    ) -> None:
        config = {
            "kind": "dist",
            "key": key,
            "binary": name,
            "sources": json.loads((entry / "sources.json").read_text()),
            "contents": json.loads((entry / "contents.json").read_text()),
            "pybin2img": __version__,
        }
        tag = f"dist-{key}"
        with cache.workspace() as scratch:
            descriptor, _ = self._push_tree(client, "dist", config, entry / "dist", scratch)
        try:
            previous = _document(client, tag, MEDIA_INDEX)
            listed = _descriptors(previous[0], "manifests") if previous else []
        except _Corrupt:
            listed = []  # replaced by a good one
        manifests = [descriptor, *(d for d in listed if d["digest"] != descriptor["digest"])]
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "artifactType": ARTIFACT_TYPES["dist"],
            "manifests": manifests[:KEEP],
        }
        client.put_manifest(tag, canonical_json(index), MEDIA_INDEX)
        self._log.detail(f"cache repository {self.name}: dist uploaded under {tag}")

    # --- Nuitka's module cache -----------------------------------------------------------------

    def fetch_module_cache(self, cache: Cache, key: str) -> None:
        """Add Nuitka's module cache of ``key``'s last compile to the local one (files Nuitka
        names by the module and its source's hash; those already here are kept)."""
        self._run(
            "compiling without it", lambda client: self._fetch_module_cache(client, cache, key)
        )

    def store_module_cache(self, cache: Cache, key: str, modules: frozenset[str]) -> None:
        """Upload Nuitka's module cache files of ``modules`` under ``nuitka-<key>``, unless
        they are what the lookup found."""
        if self._writable():
            self._run(
                "the build goes on without uploading",
                lambda client: self._store_module_cache(client, cache, key, modules),
            )

    def _fetch_module_cache(self, client: RegistryClient, cache: Cache, key: str) -> None:
        tag = f"nuitka-{key}"
        found = _document(client, tag, MEDIA_MANIFEST)
        if found is None:
            self._log.detail(f"cache repository {self.name}: no module cache under {tag}")
            return
        _, layer = _parts(found[0], "nuitka")
        target = cache.ensure("nuitka", "module-cache")
        added = 0
        with cache.workspace() as scratch:
            tree = self._download_tree(client, layer, scratch, absolute_links=False)
            for path in tree.iterdir():
                if not path.is_file() or path.is_symlink():
                    raise _Corrupt(f"{tag} holds {path.name}, which is not a file")
                if not (target / path.name).exists():
                    os.replace(path, target / path.name)
                    added += 1
        self._found[tag] = layer["digest"]
        self._log.detail(
            f"cache repository {self.name}: Nuitka's module cache under {tag}, {added} new files"
        )

    def _store_module_cache(
        self, client: RegistryClient, cache: Cache, key: str, modules: frozenset[str]
    ) -> None:
        tag = f"nuitka-{key}"
        directory = cache.path("nuitka", "module-cache")
        with cache.workspace() as scratch:
            tree = scratch / "module-cache"
            tree.mkdir()
            for path in directory.iterdir():
                if path.is_file() and path.name.split("@", 1)[0] in modules:
                    shutil.copyfile(path, tree / path.name)
            layer = pack_tree(tree, scratch / "tree.tar.gz")
            if self._found.get(tag) == layer["digest"]:
                return
            config = {"kind": "nuitka", "key": key, "pybin2img": __version__}
            _, manifest = self._push_tree(client, "nuitka", config, tree, scratch, layer=layer)
        client.put_manifest(tag, manifest, MEDIA_MANIFEST)
        self._log.detail(f"cache repository {self.name}: Nuitka's module cache under {tag}")

    # --- build environments --------------------------------------------------------------------

    def fetch_env(self, cache: Cache, key: str, env: Path) -> bool:
        """Download the build environment ``env-<key>`` to ``env`` (which must not exist);
        whether it did."""
        found = self._run(
            "making the build environment locally",
            lambda client: self._fetch_env(client, cache, key, env),
        )
        return bool(found)

    def store_env(self, cache: Cache, key: str, env: Path) -> None:
        """Upload the build environment ``env`` under ``env-<key>``."""
        if self._writable():
            self._run(
                "the build goes on without uploading",
                lambda client: self._store_env(client, cache, key, env),
            )

    def _fetch_env(self, client: RegistryClient, cache: Cache, key: str, env: Path) -> bool:
        tag = f"env-{key}"
        found = _document(client, tag, MEDIA_MANIFEST)
        if found is None:
            self._log.detail(f"cache repository {self.name}: no build environment under {tag}")
            return False
        config, layer = _parts(found[0], "env")
        if _config(client, config).get("key") != key:
            raise _Corrupt(f"{tag} is another build environment")
        start = time.monotonic()
        with cache.workspace() as scratch:
            tree = self._download_tree(client, layer, scratch, absolute_links=True)
            if not (tree / "bin" / "python").exists():  # the link to this machine's Python
                raise _Corrupt(f"{tag} has no bin/python that works here")
            env.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tree, env)
        self._log.detail(
            f"cache repository {self.name}: build environment under {tag} "
            f"({layer['size'] / 1e6:.1f} MB) in {time.monotonic() - start:.1f}s"
        )
        return True

    def _store_env(self, client: RegistryClient, cache: Cache, key: str, env: Path) -> None:
        tag = f"env-{key}"
        config = {"kind": "env", "key": key, "pybin2img": __version__}
        with cache.workspace() as scratch:
            _, manifest = self._push_tree(
                client, "env", config, env, scratch, skip=lambda rel: rel.startswith(_ENV_MARKERS)
            )
        client.put_manifest(tag, manifest, MEDIA_MANIFEST)
        self._log.detail(f"cache repository {self.name}: build environment under {tag}")

    # --- the registry --------------------------------------------------------------------------

    def _run(self, fallback: str, action: Callable[[RegistryClient], T]) -> T | None:
        """``action`` with the client; on any failure one warning (which says ``fallback``)
        and ``None``, now and for every later use in this build."""
        client = self._connect(fallback)
        if client is None:
            return None
        try:
            return action(client)
        except _FAILURES as exc:
            self._give_up(_reason(exc), fallback)
            return None

    def _connect(self, fallback: str) -> RegistryClient | None:
        if self._failed:
            return None
        if self._client is None:
            from ..registry import open_client

            options = self._options
            try:
                client = open_client(
                    options.reference,
                    dataclasses.replace(options.registry, retry=self._retry),
                    self._log,
                    mount_from=self._mount_source(),
                    timeout=options.timeout,
                    pull_only=not options.writable,
                )
            except Pybin2imgError as exc:  # credentials that cannot be read, say
                self._give_up(exc.message, fallback)
                return None
            try:
                client.ping()
            except RegistryError as exc:
                client.close()
                self._give_up(exc.message, fallback)
                return None
            self._client = client
        return self._client

    def _give_up(self, problem: str, fallback: str) -> None:
        self._failed = True
        self.close()
        self._log.warning(f"cache repository {self.name}: {problem}; {fallback}")

    def _writable(self) -> bool:
        if self._options.writable:
            return True
        if not self._said_read_only:
            self._said_read_only = True
            self._log.detail(f"cache repository {self.name}: read only (--cache-mode read)")
        return False

    def _mount_source(self) -> str | None:
        """``--mount-from`` when it is on the cache repository's registry."""
        given = self._options.mount_from
        if not given:
            return None
        try:
            source = parse_reference(given)
        except UsageError:
            return None
        if source.domain is None:
            docker_hub = self._options.reference.registry == "docker.io"
            return source.normalized_path if docker_hub else source.path
        return (
            source.normalized_path if source.registry == self._options.reference.registry else None
        )

    def _push_tree(
        self,
        client: RegistryClient,
        kind: str,
        config: Mapping[str, Any],
        root: Path,
        scratch: Path,
        *,
        skip: Callable[[str], bool] | None = None,
        layer: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """Upload ``root`` as an entry of ``kind`` (blobs the repository lacks, then the
        manifest by digest); the manifest's descriptor and bytes."""
        archive = scratch / "tree.tar.gz"
        layer = layer or pack_tree(root, archive, skip=skip)
        config_bytes = canonical_json(config)
        config_descriptor = {
            "mediaType": CONFIG_TYPE,
            "digest": sha256_digest(config_bytes),
            "size": len(config_bytes),
        }
        self._put_blob(client, config_descriptor, lambda: io.BytesIO(config_bytes))
        with archive.open("rb") as blob:
            self._put_blob(client, layer, lambda: _rewound(blob))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": ARTIFACT_TYPES[kind],
            "config": config_descriptor,
            "layers": [layer],
        }
        data = canonical_json(manifest)
        digest = client.put_manifest(sha256_digest(data), data, MEDIA_MANIFEST)
        descriptor = {
            "mediaType": MEDIA_MANIFEST,
            "artifactType": ARTIFACT_TYPES[kind],
            "digest": digest,
            "size": len(data),
        }
        return descriptor, data

    def _put_blob(
        self, client: RegistryClient, descriptor: Mapping[str, Any], opener: Callable[[], IO[bytes]]
    ) -> None:
        digest, size = descriptor["digest"], descriptor["size"]
        if client.blob_exists(digest):
            return
        session = None
        mount = self._mount_source()
        if mount:
            session = client.mount_blob(digest, mount)
            if session is None:
                return
        client.upload_blob(digest, size, opener, session=session)

    def _download_tree(
        self,
        client: RegistryClient,
        layer: Mapping[str, Any],
        scratch: Path,
        *,
        absolute_links: bool,
    ) -> Path:
        """The layer downloaded (its digest checked as it comes) and unpacked in ``scratch``."""
        archive = scratch / "download.tar.gz"
        with archive.open("wb") as out:
            client.get_blob(layer["digest"], layer["size"], out)
        tree = scratch / "tree"
        unpack_tree(archive, tree, absolute_links=absolute_links)
        archive.unlink()
        return tree


def _rewound(stream: IO[bytes]) -> IO[bytes]:
    """``stream`` from its start: each try of an upload reads it again."""
    stream.seek(0)
    return stream


# --- documents -----------------------------------------------------------------------------------


def _document(
    client: RegistryClient, reference: str, media_type: str
) -> tuple[dict[str, Any], str] | None:
    """The manifest or index under ``reference`` and its digest; ``None`` if there is none."""
    found = client.get_manifest(reference, (media_type,))
    if found is None:
        return None
    try:
        document = json.loads(found.data)
    except ValueError as exc:
        raise _Corrupt(f"{reference} is not JSON") from exc
    if not isinstance(document, dict) or document.get("mediaType") != media_type:
        raise _Corrupt(f"{reference} is not an {media_type}")
    return document, found.digest


def _descriptors(document: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    items = document.get(field)
    if not isinstance(items, list):
        raise _Corrupt(f"a document without {field}")
    descriptors = []
    for item in items:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("mediaType"), str)
            and isinstance(item.get("digest"), str)
            and _DIGEST.match(item["digest"])
            and isinstance(item.get("size"), int)
            and 0 <= item["size"] < 1 << 40
        ):
            raise _Corrupt(f"a malformed descriptor in {field}")
        descriptors.append(item)
    return descriptors


def _parts(manifest: Mapping[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config and the one layer of an entry of ``kind``."""
    if manifest.get("artifactType") != ARTIFACT_TYPES[kind]:
        raise _Corrupt(f"not a {kind} entry ({manifest.get('artifactType')!r})")
    config = _descriptors({"config": [manifest.get("config")]}, "config")[0]
    layers = _descriptors(manifest, "layers")
    if (
        config["mediaType"] != CONFIG_TYPE
        or len(layers) != 1
        or layers[0]["mediaType"] != TREE_TYPE
    ):
        raise _Corrupt(f"a {kind} entry made another way")
    return config, layers[0]


def _config(client: RegistryClient, descriptor: Mapping[str, Any]) -> dict[str, Any]:
    if descriptor["size"] > _MAX_CONFIG:
        raise _Corrupt("an entry's config is too large")
    data = io.BytesIO()
    client.get_blob(descriptor["digest"], descriptor["size"], data)
    document = json.loads(data.getvalue())
    if not isinstance(document, dict):
        raise _Corrupt("an entry's config is not an object")
    return document


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _Corrupt(f"an entry's {what} are malformed")
    return value


def _hash_or_none(path: str) -> str | None:
    try:
        return file_digest(path)
    except OSError:
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Pybin2imgError):
        return exc.message
    if isinstance(exc, (_Corrupt, UnsafeTree)):
        return f"corrupt entry: {exc}"
    if isinstance(exc, OSError):
        return f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}"
    return f"corrupt entry: {type(exc).__name__}: {exc}"


@contextmanager
def remote_cache(options: CacheRepoOptions | None, log: Log) -> Iterator[RemoteCache | None]:
    """The build's :class:`RemoteCache` (``None`` without ``--cache-repo``), closed after."""
    if options is None:
        yield None
        return
    remote = RemoteCache(options, log)
    try:
        yield remote
    finally:
        remote.close()
