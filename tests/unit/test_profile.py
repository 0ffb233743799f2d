"""Where a compile's time went, from a Nuitka report's module elements."""

from __future__ import annotations

from xml.etree import ElementTree

from pybin2img.compile.profile import PackageTime, describe, profile

REPORT = """<nuitka-compilation-report>
<module name="__main__" kind="PythonMainModule">
  <optimization-time pass="1" time="0.5"/>
</module>
<module name="pygments.lexers.python" kind="CompiledPythonModule">
  <optimization-time pass="1" time="1.5"/><optimization-time pass="2" time="0.5"/>
  <code-generation-time time="1.0"/>
  <c-compilation-resources>
    <cpu user-cpu-time="10.0" system-cpu-time="2.0"/>
  </c-compilation-resources>
</module>
<module name="pygments" kind="CompiledPythonPackage">
  <optimization-time pass="1" time="volatile"/>
</module>
<module name="rich.console" kind="UncompiledPythonModule"/>
</nuitka-compilation-report>"""


def test_profile_sums_by_top_level_package() -> None:
    root = ElementTree.fromstring(REPORT)
    rows = profile(root.iter("module"))
    assert [r.package for r in rows] == ["pygments", "__main__", "rich"]
    pygments = rows[0]
    assert (pygments.compiled, pygments.bytecode) == (2, 0)
    assert pygments.python_seconds == 3.0
    assert pygments.c_seconds == 12.0
    assert rows[2].bytecode == 1
    assert PackageTime.from_json(pygments.to_json()) == pygments
    assert describe(rows)[0].startswith("compile time: pygments: 2 modules in C, 0 as bytecode")
