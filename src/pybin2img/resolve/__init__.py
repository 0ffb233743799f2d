"""Resolve stage: the shared-library closure of the dist's ELF files, by glibc's search rules.

``elf`` reads ELF files (pyelftools), ``fsview`` is the file system the loader sees (the host or
a planned image), ``ldcache`` reads ``ld.so.cache``, ``closure`` resolves and verifies the closure;
``deps`` is the ``pybin2img deps`` command over it.
"""
