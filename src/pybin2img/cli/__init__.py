"""The ``pybin2img`` command: a thin click layer over :func:`pybin2img.build.build_image`.

It parses, builds the options (:func:`pybin2img.options.build_options`), calls the library and
maps failures to exit codes. stdout carries exactly one line (the image reference with its
digest); everything else goes to stderr. Failures are one line, ``pybin2img: error: …``, and a
stable exit code (see :mod:`pybin2img.errors`); ``--debug`` adds the traceback.

The face: :func:`main` (the console script) and the click group :data:`cli`. ``_main`` holds
the group, ``build``, the local commands (``inspect``, ``deps``, ``cache``) and the mapping of
failures to exit codes; ``_remote`` the commands that reach a registry or sign (``push``,
``sign``, ``index``, ``generate-key``); ``_click`` what they share (options from the settings,
``--debug``/``-v``/``-q``, passwords, JSON output).
"""

from ._main import cli, main

__all__ = ["cli", "main"]
