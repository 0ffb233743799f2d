"""ccache's remote storage (compile/ccache.py) as pybin2img shows it: never with its password.

Reaching a real storage is in tests/integration/test_cicache.py.
"""

from __future__ import annotations

from pybin2img.compile.ccache import redacted


def test_a_storage_password_never_shows() -> None:
    assert redacted("redis://:s3cret@cache:6379|read-only") == "redis://cache:6379"
    assert redacted("redis://ci:s3cret@cache") == "redis://ci@cache"
    assert redacted("http://cache:8080/ccache|layout=flat") == "http://cache:8080/ccache"
