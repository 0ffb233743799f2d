"""Image format and write stage: OCI documents, the file tree's data, the deterministic tarball
writer and its readers.

The format layer under the stages: it imports none of them. The face: :func:`write_image` (the
write stage, a :class:`WrittenImage`, at a level :func:`checked_level` accepts) and the atomic
output around it, the tree's :class:`Entry`, :class:`Kind` and :class:`Layer`, the documents
and digests, :func:`read_base` for ``--base``, :func:`open_archive` for any image tarball, the
index and ``inspect``.

``layer`` holds the tree's data, ``documents`` the JSON documents and digests, ``write`` writes
the tarball, ``archive`` is the one reader of image tarballs, ``baseimage`` reads an image
tarball used as ``--base``, ``index`` merges platforms into one index, ``inspection`` is
``pybin2img inspect``.
"""

from .archive import Archive, open_archive
from .baseimage import BaseImage, base_blobs, read_base
from .documents import (
    ARCHITECTURES,
    MEDIA_CONFIG,
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    Descriptor,
    ImageConfig,
    LayerBlob,
    canonical_json,
    rfc3339,
    sha256_digest,
)
from .index import MergedIndex, merge_index, write_index
from .inspection import format_report, inspect_tarball, size_report
from .layer import Entry, Kind, Layer
from .write import (
    WrittenImage,
    checked_level,
    commit_output,
    pending_output,
    write_atomically,
    write_image,
)

__all__ = [
    "ARCHITECTURES",
    "MEDIA_CONFIG",
    "MEDIA_INDEX",
    "MEDIA_MANIFEST",
    "Archive",
    "BaseImage",
    "Descriptor",
    "Entry",
    "ImageConfig",
    "Kind",
    "Layer",
    "LayerBlob",
    "MergedIndex",
    "WrittenImage",
    "base_blobs",
    "canonical_json",
    "checked_level",
    "commit_output",
    "format_report",
    "inspect_tarball",
    "merge_index",
    "open_archive",
    "pending_output",
    "read_base",
    "rfc3339",
    "sha256_digest",
    "size_report",
    "write_atomically",
    "write_image",
    "write_index",
]
