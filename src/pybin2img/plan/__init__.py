"""Plan stage: every file of the image (path, kind, mode, owner, source) grouped into layers.

``host`` probes the build machine once into frozen facts; ``planner`` lays out the dist, the
closure and the base from them, touching nothing else on the host; ``rootfs`` is the entry and
layer model; ``scratch`` generates the base files. Then ``dpkg`` finds the packages owning the
copied files, ``sbom`` describes the build, and ``packages`` records both in the image.
"""
