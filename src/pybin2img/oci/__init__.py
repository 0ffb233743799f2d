"""Image format: OCI documents, the deterministic tarball writer and its readers.

``documents`` holds the JSON documents and digests, ``write`` writes the tarball, ``baseimage``
reads an image tarball used as ``--base``, ``inspection`` is ``pybin2img inspect``.
"""
