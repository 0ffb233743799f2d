"""This machine's own ld.so.cache and loader, read the way the resolver reads them."""

from __future__ import annotations

import os

import pytest

from pybin2img.resolve.fsview import HostView
from pybin2img.resolve.ldcache import CACHE_FLAGS, loader_system_dirs, read_ld_so_cache
from tests.conftest import require

pytestmark = pytest.mark.integration

X86_64 = CACHE_FLAGS[(62, 2)]
HOST_CACHE = "/etc/ld.so.cache"


def test_host_cache_has_libc() -> None:
    require(os.path.exists(HOST_CACHE), "the host has no ld.so.cache")
    cache = read_ld_so_cache(HostView("/"))
    assert cache is not None
    path, _ = cache.lookup("libc.so.6", None)
    assert path is not None
    assert os.path.basename(path) == "libc.so.6"
    assert os.path.exists(path)
    if os.path.isdir("/lib/x86_64-linux-gnu"):  # Debian/Ubuntu x86-64
        assert cache.lookup("libc.so.6", X86_64)[0] == "/lib/x86_64-linux-gnu/libc.so.6"


def test_host_loader_system_dirs() -> None:
    require(os.path.exists("/lib64/ld-linux-x86-64.so.2"), "needs the x86-64 glibc loader")
    with open("/lib64/ld-linux-x86-64.so.2", "rb") as f:
        dirs = loader_system_dirs(f.read())
    assert dirs[-2:] in (("/lib", "/usr/lib"), ("/lib64", "/usr/lib64"))
