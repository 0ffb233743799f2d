"""The --trace records as strace and glibc's loader print them, and the paths never added."""

from __future__ import annotations

from pybin2img.trace import Trace, TracedPath
from pybin2img.trace.parse import (
    ProcessTrace,
    app_processes,
    excluded,
    parse_loader,
    parse_strace,
    unescape,
)

STRACE = r"""execve("/c/dist/app", ["/c/dist/app"], 0x7ffc /* 5 vars */) = 0
openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
openat(AT_FDCWD, "/lib/x86_64-linux-gnu/libmagic.so.1", O_RDONLY|O_CLOEXEC) = 3
openat(AT_FDCWD, "/usr/share/misc/magic.mgc", O_RDONLY) = 4
openat(AT_FDCWD, "/usr/lib/locale/C.utf8/LC_MESSAGES", O_RDONLY|O_DIRECTORY) = 5
openat(AT_FDCWD, "/var/log/app.log", O_WRONLY|O_CREAT|O_APPEND, 0666) = 6
openat(AT_FDCWD, "/etc/missing", O_RDONLY) = -1 ENOENT (No such file or directory)
open("/usr/share/caf\303\251 \"x\".txt", O_RDONLY) = 7
clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x7f, stack_size=0x9000}, 88) = 4242
"""


def test_strace_records_successful_opens_execs_and_forks() -> None:
    trace = parse_strace(100, STRACE)
    paths = [o.path for o in trace.opened]
    assert paths == [
        "/etc/ld.so.cache",
        "/lib/x86_64-linux-gnu/libmagic.so.1",
        "/usr/share/misc/magic.mgc",
        "/usr/lib/locale/C.utf8/LC_MESSAGES",
        "/var/log/app.log",
        '/usr/share/café "x".txt',
    ]
    assert [o.directory for o in trace.opened][3] is True
    assert [o.writing for o in trace.opened][4] is True
    assert not any(o.writing for o in trace.opened[:4])
    assert trace.executed == ("/c/dist/app",)
    assert trace.children == (4242,)


def test_unescape_reads_strace_hex_and_octal() -> None:
    assert unescape(r"/a\x20b\\c\"d") == '/a b\\c"d'
    assert unescape(r"/caf\303\251") == "/café"


def test_a_process_that_runs_another_program_is_not_the_app() -> None:
    processes = [
        ProcessTrace(pid=1, executed=("/c/dist/app",), children=(2, 3)),
        # ctypes.util.find_library running /sbin/ldconfig -p, and what that starts.
        ProcessTrace(pid=2, executed=("/bin/sh", "/sbin/ldconfig"), children=(4,)),
        ProcessTrace(pid=3, executed=("/c/dist/app",)),  # multiprocessing: the app again
        ProcessTrace(pid=4),
        ProcessTrace(pid=5),  # not started by the app at all
    ]
    assert app_processes(processes, 1, "/c/dist/app") == {1, 3}


LD_DEBUG = """\
     20653:\tfile=libm.so.6 [0];  needed by /c/dist/app [0]
     20653:\tfile=libm.so.6 [0];  generating link map
     20653:\tcalling init: /lib/x86_64-linux-gnu/libm.so.6
     20653:\tfile=libmagic.so.1 [0];  dynamically loaded by /c/dist/_ctypes.so [0]
     20653:\tfile=libmagic.so.1 [0];  generating link map
     20653:\t  dynamic: 0x00007fe94ff2b9e0  base: 0x00007fe94ff01000   size: 0x000000000002b480
     20653:\tcalling init: /lib/x86_64-linux-gnu/libmagic.so.1
     20653:\tfile=libz.so.1 [0];  needed by /lib/x86_64-linux-gnu/libmagic.so.1 [0]
     20653:\tfile=libm.so.6 [0];  dynamically loaded by /c/dist/_ctypes.so [0]
"""


def test_loader_log_says_why_each_object_was_loaded() -> None:
    log = parse_loader([LD_DEBUG])
    assert log.why["libmagic.so.1"] == "dlopen(libmagic.so.1) by /c/dist/_ctypes.so"
    assert log.why["libz.so.1"] == "needed by /lib/x86_64-linux-gnu/libmagic.so.1"
    assert log.why["libm.so.6"].startswith("dlopen")  # a dlopen is the stronger reason
    assert log.initialised == (
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/x86_64-linux-gnu/libmagic.so.1",
    )


PRIVATE = ("/home/me/.cache/pybin2img/dists/x/dist", "/home/me/project", "/home/me")


def test_build_tree_home_temp_and_kernel_paths_are_never_added() -> None:
    for path in (
        "/home/me/project/settings.json",
        "/home/me/.config/app.toml",
        "/home/me/.cache/pybin2img/dists/x/dist/_ctypes.so",
        "/tmp/x",
        "/var/tmp/y",
        "/proc/self/maps",
        "/sys/devices/system/cpu/online",
        "/dev/urandom",
        "/run/systemd/resolve/stub-resolv.conf",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/localtime",
        "/etc/ld.so.cache",
        "relative/file.txt",
    ):
        assert excluded(path, PRIVATE) is not None, path


def test_system_files_may_be_added() -> None:
    for path in ("/usr/share/misc/magic.mgc", "/etc/magic", "/usr/lib/file/magic.mgc", "/tmpx"):
        assert excluded(path, PRIVATE) is None, path


def test_a_trace_reports_what_it_added_and_what_not() -> None:
    trace = Trace(
        libraries=(TracedPath(path="/usr/lib/x86_64-linux-gnu/libmagic.so.1", why="dlopen"),),
        files=(TracedPath(path="/usr/share/misc/magic.mgc", why="read"),),
        skipped=(TracedPath(path="/root/.cache/x", why="the build's home"),),
        programs=("/usr/bin/uname",),
        exit_code=0,
        output="",
    )
    assert trace.summary == "1 libraries, 1 files loaded at run time"
    assert trace.warning is None
    assert trace.report() == (
        "trace: library /usr/lib/x86_64-linux-gnu/libmagic.so.1  (dlopen)",
        "trace: file /usr/share/misc/magic.mgc  (read)",
        "trace: not added /root/.cache/x  (the build's home)",
        "trace: not added /usr/bin/uname  (a program the app ran; --add-file if needed)",
    )
    failed = Trace(
        libraries=(), files=(), skipped=(), programs=(), exit_code=3, output="Traceback ..."
    )
    assert failed.warning == (
        "the traced run exited 3; what it loaded until then is added (--trace ARGS, "
        "--trace-env)\nTraceback ..."
    )
