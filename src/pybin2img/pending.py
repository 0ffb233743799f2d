"""Files written under a temporary name beside their final path and renamed into place.

The temporary file is ``.NAME.partial-XXXXXXXX``, and its writer holds an exclusive ``flock(2)``
on it for as long as it lives. A later run that can lock such a file knows that its writer is
gone (``kill -9``, a power cut) and removes it before writing NAME again, so an interrupted build
leaves nothing behind for long. The file is created as ``.NAME.new-XXXXXXXX`` and renamed only
once locked, so a sweep never mistakes a file that is being created for an abandoned one.
A lock works across processes, containers sharing the folder and process namespaces alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

#: A ``.new-`` file is only left by a writer killed between two system calls; one older than
#: this is removed.
_NEW_GRACE = 3600


class PendingFile:
    """A locked temporary file beside ``final``; :meth:`commit` renames it into place.

    Used as a context manager, it is removed if the block ends without a commit.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        sweep(final)
        fd, new = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.new-")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path = final.parent / Path(new).name.replace(".new-", ".partial-", 1)
            os.rename(new, path)
        except BaseException:
            os.close(fd)
            Path(new).unlink(missing_ok=True)
            raise
        #: Where the content goes until :meth:`commit`.
        self.path = path
        self._fd: int | None = fd
        self.file: BinaryIO = os.fdopen(os.dup(fd), "wb")

    def commit(self) -> None:
        """Flush, make the file readable as a new file would be (umask), rename it to ``final``."""
        assert self._fd is not None, "already committed or discarded"
        self.file.close()
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(self._fd, 0o666 & ~umask)
        os.replace(self.path, self.final)
        os.close(self._fd)
        self._fd = None

    def discard(self) -> None:
        """Remove the temporary file (nothing happens to ``final``)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # what is still buffered is not wanted (disk full)
            self.file.close()
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PendingFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def write_replacing(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a :class:`PendingFile` (raises ``OSError``)."""
    with PendingFile(path) as pending:
        pending.file.write(data)
        pending.commit()


def sweep(final: Path) -> list[Path]:
    """Remove the temporary files of ``final`` whose writers are gone; return them."""
    removed = []
    pattern = glob.escape(str(final.parent / f".{final.name}.")) + "*"
    for name in glob.glob(pattern):
        path = Path(name)
        kind = path.name[len(final.name) + 2 :]
        if kind.startswith("partial-"):
            stale = _abandoned(path)
        else:
            stale = kind.startswith("new-") and _older_than(path, _NEW_GRACE)
        if stale:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _abandoned(path: Path) -> bool:
    """Whether nobody holds the lock of ``path`` (a regular file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime > seconds
    except OSError:
        return False
