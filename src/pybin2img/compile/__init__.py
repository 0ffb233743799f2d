"""Compile stage: the app (script, package, module or project) to a Nuitka standalone dist.

``app`` finds what to compile, ``buildenv`` makes the cached build environment for the app's
requirements, ``nuitka`` probes the interpreter and runs Nuitka (with the dist cache).
"""
