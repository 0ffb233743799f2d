"""Trace stage (``--trace``): run the compiled dist once on the build machine and record what
it loads at run time that no ELF closure can see.

The trace is an input to the resolver, not a replacement: the static closure stays exact; the
trace adds roots (the system libraries the program ``dlopen``\\ s, resolved with their own
closure) and data files of the build machine, each with the reason it was added.

The face: :func:`trace_dist` and its :class:`Trace`, and the process-session helpers the
comparison of ``--compare`` shares. ``run`` runs the dist under strace and the loader's log,
``parse`` reads what they wrote.
"""

from .run import Trace, TracedPath, private_environment, stop_session, trace_dist

__all__ = ["Trace", "TracedPath", "private_environment", "stop_session", "trace_dist"]
