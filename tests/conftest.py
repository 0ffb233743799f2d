"""Shared test helpers.

In CI (``CI`` set) a missing engine, registry or tool is a failure; locally it is a skip, so the
fast tier can run anywhere.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require(condition: object, reason: str) -> None:
    """Skip when ``condition`` is false, or fail when running in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required when CI is set)")
    pytest.skip(f"{reason} (a failure when CI is set)")
