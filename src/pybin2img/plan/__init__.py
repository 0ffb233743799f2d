"""Plan stage: every file of the image (path, kind, mode, owner, source) grouped into layers.

``planner`` lays out the dist, the closure and the base; ``rootfs`` is the entry and layer
model; ``scratch`` generates the base files; ``dpkg`` and ``sbom`` describe what was copied.
"""
