"""The scanners the probe runs over installed packages: source text and synthetic trees in."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pybin2img.compile import _probe_gi as gi
from pybin2img.compile import _probe_scan as scan
from pybin2img.compile import _probe_walk as walk
from pybin2img.compile.named import NamedModules

SUFFIX = next(s for s in __import__("importlib.machinery").machinery.EXTENSION_SUFFIXES if "-" in s)


def _prefixes(source: str) -> list[str]:
    return [p[0] for p in scan.scan_source(source).prefixes]


def test_computed_imports_with_a_literal_prefix() -> None:
    source = (
        "import importlib\n"
        "from importlib import import_module\n"
        "PREFIX = 'pkg.codes.'\n"
        "def load(name, x, code):\n"
        "    import_module('pkg.data.' + name)\n"
        "    __import__(f'pkg.plugins.{x}')\n"
        "    importlib.import_module('pkg.fmt.%s' % x)\n"
        "    importlib.import_module('pkg.fmt2.{}'.format(x))\n"
        "    import_module(PREFIX + code)\n"
        "    module = 'pkg.built.' + x\n"
        "    import_module(module)\n"
        "    import_module(name)\n"  # nothing literal: not a prefix
        "    import_module('pkg.fixed')\n"  # a literal: an ordinary string
    )
    assert _prefixes(source) == [
        "pkg.data.",
        "pkg.plugins.",
        "pkg.fmt.",
        "pkg.fmt2.",
        "pkg.codes.",
        "pkg.built.",
    ]
    strings = {s for s, _ in scan.scan_source(source).strings}
    assert "pkg.fixed" in strings
    assert "pkg.plugins." not in strings  # an f-string's parts are not strings of their own


def test_relative_computed_imports() -> None:
    found = scan.scan_source("import importlib\nimportlib.import_module('.' + n, __name__)\n")
    assert found.prefixes == [[".", "name", 2]]
    assert scan.prefix_package(".", "name", "pkg", True) == ("pkg", "")
    assert scan.prefix_package("..x.", "package", "pkg.sub.mod", False) == ("pkg.x", "")
    assert scan.prefix_package("pkg.plugins.plugin_", "", "a", False) == ("pkg.plugins", "plugin_")
    assert scan.prefix_package("plugin_", "", "a", False) is None  # a top-level name: unbounded


def test_libraries_loaded_by_name() -> None:
    source = (
        "import ctypes, ctypes.util\n"
        "def candidates():\n"
        "    yield ctypes.util.find_library('magic')\n"
        "    yield 'libmagic.so.1'\n"
        "lib = ctypes.CDLL('libfoo.so.2')\n"
        "ffi.dlopen('bar')\n"
    )
    assert scan.scan_source(source).libraries == [
        ["magic", 3],
        ["libmagic.so.1", 4],
        ["libfoo.so.2", 5],
        ["bar", 6],
    ]
    # A soname-like string in a file that loads nothing is no library.
    assert scan.scan_source("NAME = 'libmagic.so.1'\n").libraries == []


def test_docstrings_are_not_strings() -> None:
    found = scan.scan_source(
        '"""pkg.mod is documented."""\ndef f():\n    "pkg.other"\n    return "pkg.x"\n'
    )
    assert [s for s, _ in found.strings] == ["pkg.x"]


def test_cython_imports() -> None:
    text = (
        "# cython: language_level=3\n"
        "from libc.stdlib cimport malloc\n"
        "cimport cpython as cp\n"
        "import codecs, re as _re\n"
        "from queue import Queue, Empty as QueueEmpty\n"
        "from . import _helpers\n"
        'include "io.pxi"\n'
        "def f():\n"
        "    import pkg.late  # inside a function\n"
    )
    imports, includes = scan.cython_imports(text)
    assert imports == [
        [0, "", ["codecs", "re"], 4],
        [0, "queue", ["Queue", "Empty"], 5],
        [1, "", ["_helpers"], 6],
        [0, "", ["pkg.late"], 9],
    ]
    assert includes == ["io.pxi"]


def test_binary_strings_are_whole_c_strings() -> None:
    data = b"\x7fELF\x00queue\x00pkg.helper\x00write_queue_x\x00\x01abc\x00not a name\x00"
    assert scan.binary_strings(data) == {"queue", "pkg.helper", "write_queue_x"}


def _tree(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _walker(root: Path, *, stdlib_too: bool = False, **kwargs: object) -> walk.Walker:
    """A walker over ``root`` (and the interpreter's ``sys.path`` after it, ``stdlib_too``)."""
    walker = walk.Walker(
        roots=[str(root), *(sys.path if stdlib_too else ())],
        stdlib=frozenset(sys.stdlib_module_names),
        own=lambda _spec: False,
        **kwargs,  # type: ignore[arg-type]
    )
    return walker


def _walked(root: Path, files: dict[str, str | bytes], *names: str) -> walk.Walker:
    """A walker that followed ``names`` through ``files`` written under ``root``."""
    _tree(root, files)
    walker = _walker(root)
    for name in names:
        walker.add(name)
    walker.run()
    return walker


def test_strings_naming_modules_of_their_own_package(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "boto/__init__.py": "from . import session\n",
            "boto/session.py": (
                "from .utils import lazy_call\n"
                "HANDLERS = [lazy_call('boto.dyn.transform.register'), 'boto.s3.inject:f',\n"
                "            'other.module', 'boto.tests.helper', 'boto.big']\n"
            ),
            "boto/utils.py": "",
            "boto/dyn/__init__.py": "",
            "boto/dyn/transform.py": "X = 'boto.dyn.types'\n",
            "boto/dyn/types.py": "",
            "boto/s3/__init__.py": "",
            "boto/s3/inject.py": "",
            "boto/big/__init__.py": "",
            "boto/big/a.py": "",
            "boto/tests/__init__.py": "",
            "boto/tests/helper.py": "",
            "other/__init__.py": "",
            "other/module.py": "",
        },
    )
    walker = _walker(tmp_path)
    walker.add("boto")
    walker.run()
    added = {m: r["kind"] for m, r in walker.modules.items()}
    # the transform module's own strings are read in turn; a package named is its __init__
    # only, never its whole tree; another package's module and test suites are not taken
    assert added == {
        "boto.dyn.transform": "string",
        "boto.dyn.types": "string",
        "boto.s3.inject": "string",
        "boto.big": "string",
    }
    record = walker.modules["boto.dyn.transform"]
    assert (record["file"], record["line"]) == (str(tmp_path / "boto/session.py"), 2)


def test_strings_naming_modules_relative_to_their_package(tmp_path: Path) -> None:
    # pyexcel: lml's plugin chain is given the package's __name__ and class paths below it
    walker = _walked(
        tmp_path,
        {
            "px/__init__.py": "from . import sources\n",
            "px/sources/__init__.py": (
                "from px.chain import Chain\n"
                "Chain(__name__).add('output_to_memory.WriteSheet').add('http.HttpSource')\n"
                "Chain(__name__).add('deep.mod.Cls').add('deep.mod:attr').add('reader:Read')\n"
                "NOT_OURS = ['json.dumps', 'os.path', 'missing.Thing', 'tests.helper.X',\n"
                "            '__init__.py', '__main__.py']\n"
            ),
            "px/chain.py": "",
            "px/sources/output_to_memory.py": "",
            "px/sources/http.py": "",
            "px/sources/reader.py": "",
            "px/sources/deep/__init__.py": "",
            "px/sources/deep/mod.py": "",
            "px/sources/tests/__init__.py": "",
            "px/sources/tests/helper.py": "",
            "px/sources/__main__.py": "",
        },
        "px",
    )
    assert {m: r["line"] for m, r in walker.modules.items() if r["kind"] == "string"} == {
        "px.sources.output_to_memory": 2,
        "px.sources.http": 2,
        "px.sources.deep.mod": 3,
        "px.sources.reader": 3,
    }


def test_strings_naming_modules_of_the_packages_a_package_requires(tmp_path: Path) -> None:
    """python-dateutil 4 opens tzdata's zones as the resources of ``tzdata.zoneinfo.AREA``;
    a string naming a module of a distribution it does not require is not taken."""
    _tree(
        tmp_path,
        {
            "du/__init__.py": "from . import tzimpl\n",
            "du/tzimpl.py": (
                "import importlib.resources\n"
                "def load(key):\n"
                "    package = '.'.join(['zd.zoneinfo'] + key.split('/')[:-1])\n"
                "    return importlib.resources.files(package)\n"
                "OTHER = ['nd.module', 'zd', 'zd.missing']\n"
            ),
            "zd/__init__.py": "",
            "zd/zoneinfo/__init__.py": "",
            "zd/zoneinfo/Europe/__init__.py": "",
            "nd/__init__.py": "",
            "nd/module.py": "",
        },
    )
    walker = _walker(tmp_path, dependencies={"du": frozenset({"zd"})})
    walker.add("du")
    walker.run()
    assert {m: (r["line"], r["by"]) for m, r in walker.modules.items()} == {
        "zd.zoneinfo": (3, ["du.tzimpl"])
    }


def test_computed_import_adds_every_module_under_the_prefix(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "dp/__init__.py": "from .loader import load\n",
        "dp/loader.py": "from importlib import import_module\n"
        "def load(lang):\n    return import_module('dp.data.lang.' + lang)\n",
        "dp/data/__init__.py": "",
        "dp/data/lang/__init__.py": "",
        "dp/data/lang/tests/__init__.py": "",
        "dp/data/lang/tests/test_en.py": "",
        "dp/data/lang/README.txt": "",
        "huge/__init__.py": (
            "import importlib\ndef f(x):\n    importlib.import_module(f'huge.{x}')\n"
        ),
    }
    files.update({f"dp/data/lang/{code}.py": "info = {}\n" for code in ("en", "fr", "de")})
    files.update({f"huge/m{i}.py": "" for i in range(walk.MAX_PACKAGE_PREFIX_MODULES + 1)})
    _tree(tmp_path, files)
    walker = _walker(tmp_path)
    walker.add("dp")
    walker.add("huge")
    walker.run()
    assert sorted(m for m, r in walker.modules.items() if r["kind"] == "prefix") == [
        "dp.data.lang.de",
        "dp.data.lang.en",
        "dp.data.lang.fr",
    ]
    dp, huge = sorted(walker.prefixes, key=lambda p: p["package"])
    assert (dp["package"], dp["modules"], dp["added"], dp["line"]) == ("dp.data.lang", 3, True, 3)
    assert (huge["package"], huge["added"]) == ("huge", False)
    assert huge["modules"] == walk.MAX_PACKAGE_PREFIX_MODULES + 1


def test_a_prefix_held_in_a_string_of_the_package(tmp_path: Path) -> None:
    # docutils: the importer is given its prefixes by a class attribute, the subclass in
    # another file gives its own; the call shows none of them
    files: dict[str, str | bytes] = {
        "doc/__init__.py": "from . import languages, rst\n",
        "doc/languages/__init__.py": (
            "from importlib import import_module\n"
            "class Importer:\n"
            "    packages = ('doc.languages.', '')\n"
            "    def get(self, name):\n"
            "        for package in self.packages:\n"
            "            return import_module(package + name)\n"
        ),
        "doc/rst/__init__.py": (
            "from doc.languages import Importer\n"
            "class RstImporter(Importer):\n"
            "    packages = ('doc.rst.languages.', '')\n"
            "NOT_A_PACKAGE = 'doc.rst.Thing.'\n"
            "OTHERS = 'other.languages.'\n"
            "TESTS = ['doc.tests.']\n"
            "def caller(name, x):\n"  # compared with or added to: no prefix
            "    return name.startswith('doc.hidden.') or x == 'doc.hidden.' or (\n"
            "        'doc.hidden.' + x)\n"
        ),
        "doc/rst/languages/__init__.py": "",
        "doc/hidden/__init__.py": "",
        "doc/hidden/a.py": "",
        "doc/tests/__init__.py": "",
        "doc/tests/test_a.py": "",
        "other/__init__.py": "",
        "other/languages/__init__.py": "",
        "other/languages/xx.py": "",
    }
    for package in ("doc/languages", "doc/rst/languages"):
        files.update({f"{package}/{code}.py": "labels = {}\n" for code in ("de", "fr")})
    walker = _walked(tmp_path, files, "doc")
    assert sorted(m for m, r in walker.modules.items() if r["kind"] == "prefix") == [
        "doc.languages.de",
        "doc.languages.fr",
        "doc.rst.languages.de",
        "doc.rst.languages.fr",
    ]
    rst = next(p for p in walker.prefixes if p["package"] == "doc.rst.languages")
    assert (rst["file"], rst["line"]) == (str(tmp_path / "doc/rst/__init__.py"), 3)
    # a string of another package, or naming no package, stands for nothing
    assert {p["package"] for p in walker.prefixes} == {"doc.languages", "doc.rst.languages"}


def test_what_a_package_imports_lazily(tmp_path: Path) -> None:
    # a PEP 562 __getattr__ with the names spelled out for type checkers (pendulum's travel),
    # and a * re-export for static analysis of what is loaded by name (holidays' countries)
    walker = _walked(
        tmp_path,
        {
            "lz/__init__.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:  # for type checkers\n"
                "    from lz.heavy import Thing\n"
                "    from .other import Other\n"
                "    from outside.mod import X\n"
                "def __getattr__(name):\n"
                "    return _load(name)\n"
            ),
            "lz/heavy.py": "",
            "lz/other.py": "",
            "lz/mod.py": "import typing\nif typing.TYPE_CHECKING:\n    from lz.hidden import H\n"
            "def __getattr__(name): pass\n",
            "lz/hidden.py": "",
            "stars/__init__.py": (
                "import typing\nif typing.TYPE_CHECKING:\n    from stars.countries import *\n"
                "    from stars.types import Alias\n"
            ),
            "stars/countries/__init__.py": "",
            "stars/types.py": "",
            "outside/__init__.py": "",
            "outside/mod.py": "",
        },
        "lz",
        "lz.mod",
        "stars",
    )
    lazy = {m: r["line"] for m, r in walker.modules.items() if r["kind"] == "lazy"}
    # only a package's own modules, only in its __init__, and without __getattr__ only `*`
    assert lazy == {"lz.heavy": 3, "lz.other": 4, "stars.countries": 3}


def test_packages_that_read_their_own_source(tmp_path: Path) -> None:
    walker = _walked(
        tmp_path,
        {
            "infl/__init__.py": "import os\nfrom typeguard import typechecked\n",
            "checks/__init__.py": "from typeguard import check_type\n",
            "typeguard/__init__.py": "from typeguard._decorators import typechecked\n",
            "typeguard/_decorators.py": "def typechecked(f): return f\n",
        },
        "infl",
        "checks",
        "typeguard",
    )
    assert list(walker.sources) == ["infl"]
    assert walker.sources["infl"]["line"] == 2
    assert "typechecked" in walker.sources["infl"]["why"]


def test_packages_that_read_the_source_of_other_modules(tmp_path: Path) -> None:
    walker = _walked(
        tmp_path,
        {
            "lint/__init__.py": "import astroid\n",
            "astroid/__init__.py": "from astroid.manager import AstroidManager\n",
            "astroid/manager.py": "",
        },
        "lint",
    )
    assert list(walker.analysers) == ["astroid"]
    assert walker.analysers["astroid"]["file"] == str(tmp_path / "astroid/__init__.py")
    assert "Uninferable" in walker.analysers["astroid"]["why"]
    assert _walked(tmp_path / "other", {"lint/__init__.py": ""}, "lint").analysers == {}


def test_entry_point_groups_looked_up(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "lint/__init__.py": "",
            "lint/finder.py": "GROUPS = frozenset(('lint.extension', 'lint.report'))\n",
            "lint/plugins.py": "",
            "lintplug.py": "",
        },
    )
    targets = {
        "lint.extension": [
            walk.EntryTarget("lint", "lint.extension", "F", "lint.plugins:Checker"),
            walk.EntryTarget("lint-plug", "lint.extension", "B", "lintplug:Plugin [extra]"),
            walk.EntryTarget("gone", "lint.extension", "G", "gone.module:x"),
        ],
        "console_scripts": [walk.EntryTarget("lint", "console_scripts", "lint", "lint.cli:main")],
    }
    walker = _walker(tmp_path, groups=targets)
    walker.add("lint.finder")
    walker.run()
    assert set(walker.entry_points) == {"lint.extension"}  # console_scripts: never looked up
    group = walker.entry_points["lint.extension"]
    assert group["line"] == 1
    assert [t["module"] for t in group["targets"]] == ["lint.plugins", "lintplug", None]
    assert {m for m, r in walker.modules.items() if r["kind"] == "entry point"} == {
        "lint.plugins",
        "lintplug",
    }
    # the app's own files look groups up too
    walker.found_in_app("console_scripts", "/app/main.py", 7)
    assert walker.entry_points["console_scripts"]["file"] == "/app/main.py"


def test_extension_modules_imports(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "arrow/__init__.py": "from . import lib\nfrom . import fast\n",
            f"arrow/lib{SUFFIX}": b"\x00PyInit_lib\x00",
            "arrow/lib.pyx": "import os\ninclude 'io.pxi'\n",
            "arrow/io.pxi": "from queue import Queue\ndef f():\n    import arrow.extra\n",
            "arrow/extra.py": "",
            f"arrow/fast{SUFFIX}": (
                b"\x00PyInit_fast\x00threading\x00arrow.helper\x00tkinter\x00dep\x00nothere\x00"
                b"_cffi_backend\x00lonepy\x00libfribidi.so.0\x00libX11.so.6\x00libdev.so\x00"
            ),
            "arrow/helper.py": "",
            "arrow/libarrow_python.so": b"\x00not a module\x00",
            "dep/__init__.py": "",
            # a top-level extension module no metadata lists (Debian's python3-cffi-backend),
            # which cffi's modules import from C; a lone .py module is not taken so
            f"_cffi_backend{SUFFIX}": b"\x00PyInit__cffi_backend\x00",
            "lonepy.py": "",
        },
    )
    walker = _walker(tmp_path, top_level=frozenset({"arrow", "dep"}))
    found_at = str(tmp_path / f"arrow/fast{SUFFIX}")
    walker.add("arrow")
    walker.run()
    found = {m: (Path(r["file"]).name, r["line"]) for m, r in walker.modules.items()}
    assert found == {
        "os": ("lib.pyx", 1),
        "queue": ("io.pxi", 1),
        "arrow.extra": ("io.pxi", 3),
        "threading": (f"fast{SUFFIX}", 0),
        "arrow.helper": (f"fast{SUFFIX}", 0),
        "dep": (f"fast{SUFFIX}", 0),
        "_cffi_backend": (f"fast{SUFFIX}", 0),
    }
    assert walker.extensions == 3
    # a library it dlopens by name (Pillow's fribidi); not a display client, nor a name
    # without a version (a development link)
    assert walker.libraries == {
        "libfribidi.so.0": {"library": "libfribidi.so.0", "file": found_at, "line": 0}
    }
    assert scan.is_extension_module(str(tmp_path / f"arrow/lib{SUFFIX}"))
    assert not scan.is_extension_module(str(tmp_path / "arrow/libarrow_python.so"))


def test_findings_are_cached_by_file(tmp_path: Path) -> None:
    _tree(tmp_path, {"pkg/__init__.py": "X = 'pkg.mod'\n", "pkg/mod.py": ""})
    cache: dict[str, object] = {}
    first = _walker(tmp_path, cache=cache)
    first.add("pkg")
    first.run()
    assert (first.scanned, first.cached) == (2, 0)
    again = _walker(tmp_path, cache=cache)
    again.add("pkg")
    again.run()
    assert (again.scanned, again.cached) == (2, 2)
    assert again.modules == first.modules
    (tmp_path / "pkg/__init__.py").write_text("X = 'pkg.other'\n")  # another size: read again
    changed = _walker(tmp_path, cache=cache)
    changed.add("pkg")
    changed.run()
    assert (changed.scanned, changed.cached) == (1, 0)
    assert "pkg.mod" not in changed.modules


def test_walking_is_bounded(tmp_path: Path) -> None:
    _tree(tmp_path, {f"p{i}.py": f"import p{i + 1}\n" for i in range(10)})
    walker = _walker(tmp_path, max_files=3)
    walker.add("p0")
    walker.run()
    assert walker.scanned == 3
    assert walker.stopped == "more than 3 files"


def test_distributions_and_their_top_level_modules(tmp_path: Path) -> None:
    from pybin2img.compile import _probe_main as probe

    def dist(name: str, files: list[str], *, requires: str = "", top: str | None = None) -> None:
        info = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{requires}"
        )
        record = [*files, f"{info.name}/METADATA,,"]
        (info / "RECORD").write_text("".join(f"{f.split(',')[0]},,\n" for f in record))
        if top is not None:
            (info / "top_level.txt").write_text(top)
        for file in files:
            path = tmp_path / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    dist(
        "flake8", ["flake8/__init__.py", "flake8/main/cli.py"], requires="Requires-Dist: pyflakes\n"
    )
    dist("pycodestyle", ["pycodestyle.py"])
    dist("protobuf", ["google/protobuf/__init__.py", "google/_upb/_message.abi3.so"])
    dist(
        "nuitka",
        ["nuitka/__init__.py"],
        requires="Requires-Dist: ordered-set\nRequires-Dist: zstandard; extra == 'onefile'\n",
    )
    dist("ordered-set", ["ordered_set/__init__.py"])
    dist("zstandard", ["zstandard/__init__.py"])
    found = {d["name"]: d for d in probe._distributions([str(tmp_path)])}
    assert found["flake8"]["modules"] == ["flake8"]
    assert found["pycodestyle"]["modules"] == ["pycodestyle"]
    assert found["protobuf"]["modules"] == ["google._upb", "google.protobuf"]  # a namespace
    assert probe._build_tools(list(found.values())) == {"nuitka", "ordered-set"}
    # what each top-level module's distribution requires, not for an extra
    assert probe._dependencies(list(found.values())) == {
        "nuitka": frozenset({"ordered_set"}),
        # pyflakes is not installed
    }


def test_namespace_packages_are_found_without_importing(tmp_path: Path) -> None:
    """A namespace package's own search path looks its parent up in sys.modules: the walker
    computes it from the directories instead (opentelemetry is one)."""
    _tree(
        tmp_path,
        {
            "otel/api/__init__.py": "from otel.api import context\n",
            "otel/api/context.py": "DEFAULT = 'otel.api.contextvars_context'\n",
            "otel/api/contextvars_context.py": "",
        },
    )
    walker = _walker(tmp_path)
    walker.add("otel.api")
    walker.run()
    assert set(walker.modules) == {"otel.api.contextvars_context"}
    assert walker.locations("otel") == [str(tmp_path / "otel")]


def test_the_scan_cache_is_kept_per_probe_code(tmp_path: Path, monkeypatch: Any) -> None:
    # What the scanners found in a file is reused only by the same scanners.
    from pybin2img.compile import probe

    for name in ("_probe_main.py", "_probe_scan.py"):
        (tmp_path / name).write_text("x = 1\n")
    monkeypatch.setattr(probe, "_PROBE", tmp_path / "_probe_main.py")
    before = probe.probe_code_digest()
    assert before == probe.probe_code_digest()
    (tmp_path / "_probe_scan.py").write_text("x = 2\n")
    assert probe.probe_code_digest() != before


def test_a_missing_import_found_in_the_users_site_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pip install --user`` puts a package where the interpreter looks for a script but a
    build does not (the probe runs with ``-I``): the probe says where it is."""
    import site

    from pybin2img.compile import _probe_main as probe

    user = tmp_path / "user-site"
    (user / "fancy").mkdir(parents=True)
    (user / "fancy" / "__init__.py").write_text("")
    monkeypatch.setattr(site, "getusersitepackages", lambda: str(user))
    assert probe._in_user_site("fancy") == str(user)
    assert probe._in_user_site("plain") is None
    app = tmp_path / "app.py"
    app.write_text("import fancy\n")
    missing = probe._check([str(app)], [str(tmp_path)], {})
    assert missing == {"file": str(app), "line": 1, "module": "fancy", "user_site": str(user)}


def test_standard_library_modules_nuitka_carries_without_what_they_import(tmp_path: Path) -> None:
    """``importlib.resources`` imported anywhere the app reaches is compiled in as if the app
    imported it, so that Nuitka follows its imports (``tempfile``, ``urllib.parse``), which it
    does not for the module it always carries."""
    _tree(
        tmp_path,
        {
            "late/__init__.py": "import importlib\nimport importlib.resources\n",
            "early/__init__.py": "from importlib import resources\n",
            "plain/__init__.py": "import importlib\nimport json\n",
        },
    )
    walkers = {}
    for package in ("late", "early", "plain"):
        walkers[package] = _walker(tmp_path, stdlib_too=True)
        walkers[package].add(package)
        walkers[package].run()
    assert {p: "importlib.resources" in w.modules for p, w in walkers.items()} == {
        "late": True,
        "early": True,
        "plain": False,
    }
    record = walkers["late"].modules["importlib.resources"]
    assert (record["kind"], record["by"]) == ("stdlib", [""])
    assert record["file"].endswith(os.path.join("importlib", "resources", "__init__.py"))
    named = NamedModules.from_probe({"modules": [record]})
    assert named.nuitka_args() == ("--include-module=importlib.resources",)
    assert "importlib.resources" not in named.package_configuration()


def test_the_tzdata_package_comes_with_zoneinfo_where_it_is_installed(tmp_path: Path) -> None:
    """``zoneinfo`` reads a zone from tzdata's packages where the system has no zone files
    (``--tzdata never``): with tzdata installed, its zones come with ``zoneinfo``."""
    _tree(tmp_path / "with", {"tzdata/__init__.py": "", "tzdata/zoneinfo/__init__.py": ""})
    (tmp_path / "without").mkdir()
    found = {}
    stdlib = [p for p in sys.path if p and not p.endswith(("site-packages", "dist-packages"))]
    for tree in ("with", "without"):
        walker = walk.Walker(
            roots=[str(tmp_path / tree), *stdlib],
            stdlib=frozenset(sys.stdlib_module_names),
            own=lambda _spec: False,
        )
        walker.add("zoneinfo")
        walker.run()
        found[tree] = walker.modules.get("tzdata.zoneinfo")
    assert found["without"] is None
    assert found["with"] is not None
    assert (found["with"]["file"], found["with"]["by"]) == ("named inside zoneinfo", [""])


def test_introspection_namespaces_imported_and_gis_overrides_left_to_nuitka(
    tmp_path: Path,
) -> None:
    """``from gi.repository import GLib`` is a namespace PyGObject makes (kept with where it is
    imported, by an installed module or the app); ``gi.overrides`` imports its modules by a
    computed name, one per namespace: Nuitka's gi plugin takes those the program uses, never all
    of them (Gtk's asked Nuitka for Gtk on a machine without its typelib)."""
    files: dict[str, str | bytes] = {
        "svc/__init__.py": "from gi.repository import GLib\nimport gi.repository.Gio as Gio\n",
        "gi/__init__.py": "",
        "gi/repository/__init__.py": "",
        "gi/overrides/__init__.py": (
            "import importlib\n"
            "def load(ns):\n    return importlib.import_module('gi.overrides.' + ns)\n"
        ),
        "gi/overrides/GLib.py": "",
        "gi/overrides/Gtk.py": "",
    }
    walker = _walked(tmp_path, files, "svc", "gi.overrides")
    walker.app_imports(
        scan.scan_source("import os\nfrom gi.repository import Gtk\n").imports, "", "/app/main.py"
    )
    assert not [m for m in walker.modules if m.startswith("gi.")]
    assert not walker.prefixes
    origin = str(tmp_path / "svc" / "__init__.py")
    assert walker.introspection == {
        "GLib": {"namespace": "GLib", "file": origin, "line": 1, "by": ["svc"]},
        "Gio": {"namespace": "Gio", "file": origin, "line": 2, "by": ["svc"]},
        "Gtk": {"namespace": "Gtk", "file": "/app/main.py", "line": 2, "by": [""]},
    }
    assert not walker.only_named(["svc"])
    assert not walker.only_named([""])


def test_introspection_namespaces_of_modules_reached_by_name(tmp_path: Path) -> None:
    """A GUI backend reached only through a computed import's prefix imports Gtk: a module
    compiled in only with the one naming it (which Nuitka's configuration may leave out)."""
    files: dict[str, str | bytes] = {
        "plot/__init__.py": (
            "import importlib\n"
            "def use(name):\n    return importlib.import_module('plot.backends.' + name)\n"
        ),
        "plot/backends/__init__.py": "",
        "plot/backends/gtk.py": "from gi.repository import Gtk\n",
        "plot/backends/agg.py": "",
    }
    walker = _walked(tmp_path, files, "plot")
    assert walker.introspection["Gtk"]["by"] == ["plot.backends.gtk"]
    assert walker.only_named(["plot.backends.gtk"])
    assert not walker.only_named(["plot.backends.gtk", ""])


def _typelib(path: Path, libraries: str) -> str:
    """A typelib's header as PyGObject writes it, naming ``libraries``."""
    header = bytearray(b"GOBJ\nMETADATA\r\n\x1a" + bytes(64))
    header[52:56] = len(header).to_bytes(4, "little")
    path.write_bytes(bytes(header) + libraries.encode() + b"\0")
    return str(path)


def test_the_introspection_namespaces_reached_and_their_typelibs(tmp_path: Path) -> None:
    """Each namespace reached is made by PyGObject in the program: from the typelib shipped,
    with its overrides and the libraries it names, or not at all where the machine has none
    (Gtk on a server)."""
    glib = _typelib(tmp_path / "GLib-2.0.typelib", "libgobject-2.0.so.0,libglib-2.0.so.0")
    gobject = _typelib(tmp_path / "GObject-2.0.typelib", "libgobject-2.0.so.0")
    found: dict[str, dict[str, Any]] = {
        "GLib": {"typelib": glib, "version": "2.0", "dependencies": []},
        "GObject": {"typelib": gobject, "version": "2.0", "dependencies": ["GLib"]},
        "Gtk": {"typelib": None, "dependencies": []},
    }
    imported = {
        "GObject": {"namespace": "GObject", "file": "/app/main.py", "line": 3},
        "Gtk": {"namespace": "Gtk", "file": "/venv/plot/gtk.py", "line": 1, "named_only": True},
    }
    overrides = {"gi.overrides.GLib", "gi.overrides.GObject", "gi.overrides.Gtk"}

    def locate(name: str) -> object | None:
        return object() if name in overrides else None

    records = {r["namespace"]: r for r in gi.classify(found, imported, locate)["namespaces"]}
    assert {n: r["handled"] for n, r in records.items()} == {
        "GLib": "shipped",
        "GObject": "shipped",
        "Gtk": "absent",
    }
    assert records["GLib"]["libraries"] == ["libgobject-2.0.so.0", "libglib-2.0.so.0"]
    assert (records["GObject"]["imported"], records["GObject"]["line"]) == (True, 3)
    assert (records["GLib"]["imported"], records["GLib"]["overrides"]) == (False, True)
    assert (records["Gtk"]["overrides"], records["Gtk"]["libraries"]) == (False, [])
    # a namespace only a module reached by name imports ships without its libraries
    gtk = _typelib(tmp_path / "Gtk-3.0.typelib", "libgtk-3.so.0,libgdk-3.so.0")
    with_gtk = dict(found, Gtk={"typelib": gtk, "version": "3.0", "dependencies": ["GObject"]})
    records = {r["namespace"]: r for r in gi.classify(with_gtk, imported, locate)["namespaces"]}
    assert (records["Gtk"]["handled"], records["Gtk"]["libraries"]) == ("shipped", [])
    assert records["GObject"]["libraries"] == ["libgobject-2.0.so.0"]
    # a file that is no typelib names no library
    (tmp_path / "junk.typelib").write_bytes(b"not a typelib")
    assert gi.shared_libraries(str(tmp_path / "junk.typelib")) == []
    assert gi.shared_libraries(str(tmp_path / "missing.typelib")) == []
    assert gi.namespaces({}, locate) == {"namespaces": []}


def test_libraries_loaded_by_names_a_loop_goes_over() -> None:
    """pyenchant tries each name of a list with ``find_library``: each is a library loaded by
    name; a list holding anything but strings names none."""
    source = (
        "import ctypes.util\n"
        "def from_system():\n"
        "    candidates = ['enchant-2', 'libenchant-2']\n"
        "    for name in candidates:\n"
        "        res = ctypes.util.find_library(name)\n"
        "        if res:\n"
        "            return res\n"
        "for other in ('magic', None):\n"
        "    ctypes.CDLL(other)\n"
        "for found in ('z',):\n"
        "    print(found)\n"
    )
    assert scan.scan_source(source).libraries == [["enchant-2", 5], ["libenchant-2", 5]]
