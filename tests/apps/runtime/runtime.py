"""A small app for the tests of how images run: read-only roots, PID 1, run-time libraries.

Its directory also holds files named like standard library modules (``imp.py``, ``inspect.py``,
``types.py``, ``logging.py``) that would break the program if the compiler took them for the
standard library's; ``greeting`` is the app's own module beside them.

    runtime.py            temp files, ctypes.util.find_library, the app's own module
    runtime.py wait       print "waiting" and sleep, with no signal handler of its own
    runtime.py exit N     exit with code N
    runtime.py orphans    leave an orphaned child to PID 1, then count the zombies
    runtime.py programs   run a command through the shell, tini by its name, sys.executable
    runtime.py localtime  the zone and offset of local time at the epoch (TZ's zone)
    runtime.py openssl    OpenSSL's legacy provider loaded by name, then an MD4 digest
"""

import ctypes
import ctypes.util
import os
import subprocess
import sys
import tempfile
import time

import greeting


def check() -> None:
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"written")
        f.flush()
        print("tempfile", os.path.dirname(f.name))
    for name in ("z", "c"):
        print("find_library", name, ctypes.util.find_library(name))
    zlib = ctypes.CDLL(ctypes.util.find_library("z"))
    zlib.zlibVersion.restype = ctypes.c_char_p
    print("zlib", zlib.zlibVersion().decode())
    print(greeting.MESSAGE)


def wait() -> None:
    print("waiting", flush=True)
    time.sleep(3600)


def orphans() -> None:
    """A child that forks a grandchild and exits at once: the grandchild is orphaned, goes to
    PID 1 and exits too; unless PID 1 waits for it, it stays a zombie."""
    child = os.fork()
    if child == 0:
        if os.fork() == 0:
            time.sleep(0.2)
        os._exit(0)
    os.waitpid(child, 0)
    time.sleep(1)
    zombies = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        zombies += state == "Z"
    print("pid", os.getpid(), "zombies", zombies)


def programs() -> None:
    """Programs run by name, which the build checks against the image: a shell (none in the
    image), tini (there, as PID 1, unless the image has no init) and ``sys.executable`` (no
    interpreter in the image)."""
    print("shell", os.waitstatus_to_exitcode(os.system("true")), flush=True)
    try:
        tini = subprocess.run(["tini", "--version"], capture_output=True, check=False).returncode
    except FileNotFoundError:
        tini = -1
    print("tini", tini)
    try:
        itself = subprocess.run([sys.executable, "-c", "pass"], check=False).returncode
    except FileNotFoundError as exc:
        itself = f"FileNotFoundError {exc.filename}"
    print("sys.executable", itself)


def openssl() -> None:
    """OpenSSL's legacy provider loaded by name, as cryptography before 42 does at import and
    NTLM clients do for MD4: libcrypto dlopens it from the directory built into it."""
    import _hashlib
    import hashlib

    crypto = ctypes.CDLL(_hashlib.__file__)  # its libcrypto's symbols, through its handle
    crypto.OSSL_PROVIDER_load.restype = ctypes.c_void_p
    crypto.OSSL_PROVIDER_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    for name in (b"default", b"legacy"):
        print("provider", name.decode(), bool(crypto.OSSL_PROVIDER_load(None, name)))
    print("md4", hashlib.new("md4", b"abc").hexdigest())


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "wait":
        wait()
    elif command == "exit":
        sys.exit(int(sys.argv[2]))
    elif command == "orphans":
        orphans()
    elif command == "programs":
        programs()
    elif command == "openssl":
        openssl()
    elif command == "localtime":
        print(time.strftime("%Z %z", time.localtime(0)))
    else:
        check()
