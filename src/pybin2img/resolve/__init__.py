"""Resolve stage: the shared-library closure of the dist's ELF files, by glibc's search rules.

``elf`` reads ELF files (pyelftools), ``fsview`` is the file system the loader sees (the host or
a planned image), ``ldcache`` reads ``ld.so.cache``, ``target`` detects the loader and its
search rules, ``search`` finds a library as glibc's or musl's loader would, ``process`` builds
the load graph (the frozen types of ``closure``) and verifies it inside the image, ``dist``
finds the dist's ELF roots; ``deps`` is the ``pybin2img deps`` command over it.
"""
