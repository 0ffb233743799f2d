"""Where a compile's time went, by top-level package, from Nuitka's report.

Nuitka's report gives, for each module, its kind (compiled to C, or shipped as bytecode), the
time of its Python-level passes and code generation, and the CPU time of its C compile. Summed
by top-level package, that shows what makes a cold build slow (pygments' lexers under rich,
Django's 900 modules) and what ``--bytecode`` would save.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element


@dataclass(frozen=True, kw_only=True)
class PackageTime:
    package: str
    #: Modules compiled to C, and shipped as bytecode.
    compiled: int
    bytecode: int
    #: Seconds of Nuitka's Python-level passes and C code generation.
    python_seconds: float
    #: CPU seconds of the C compiler (spread over ``--jobs``).
    c_seconds: float

    @property
    def seconds(self) -> float:
        return self.python_seconds + self.c_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "compiled": self.compiled,
            "bytecode": self.bytecode,
            "python_seconds": round(self.python_seconds, 2),
            "c_seconds": round(self.c_seconds, 2),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageTime:
        return cls(
            package=str(data["package"]),
            compiled=int(data["compiled"]),
            bytecode=int(data["bytecode"]),
            python_seconds=float(data["python_seconds"]),
            c_seconds=float(data["c_seconds"]),
        )


def profile(modules: Iterable[Element]) -> list[PackageTime]:
    """Per top-level package, most time first, from the report's ``<module>`` elements."""
    sums: dict[str, list[float]] = {}
    for module in modules:
        name = module.get("name", "")
        top = name.split(".")[0] or name
        kind = module.get("kind", "").lower().replace("_", "")
        row = sums.setdefault(top, [0, 0, 0.0, 0.0])
        if "uncompiled" in kind:
            row[1] += 1
        elif "compiled" in kind or "main" in kind:
            row[0] += 1
        for timing in module.iter():
            if timing.tag in ("optimization-time", "code-generation-time"):
                row[2] += _seconds(timing.get("time"))
            elif timing.tag == "cpu" or timing.get("user-cpu-time") is not None:
                row[3] += _seconds(timing.get("user-cpu-time")) + _seconds(
                    timing.get("system-cpu-time")
                )
    rows = [
        PackageTime(package=top, compiled=int(c), bytecode=int(b), python_seconds=p, c_seconds=cc)
        for top, (c, b, p, cc) in sums.items()
    ]
    return sorted(rows, key=lambda r: (-r.seconds, -r.compiled, r.package))


def describe(rows: list[PackageTime], *, top: int = 8) -> list[str]:
    """Lines for ``-v``: the packages that took the most time."""
    total = sum(r.seconds for r in rows) or 1.0
    return [
        f"compile time: {r.package}: {r.compiled} modules in C, {r.bytecode} as bytecode, "
        f"{r.python_seconds:.0f} s Nuitka + {r.c_seconds:.0f} s CPU in the C compiler "
        f"({100 * r.seconds / total:.0f}%)"
        for r in rows[:top]
        if r.seconds > 0 or r.compiled
    ]


def _seconds(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:  # "volatile" in a diffable report
        return 0.0
