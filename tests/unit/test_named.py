"""What the probe found, turned into Nuitka's arguments, a package configuration, -v lines, the
project's own metadata and the libraries loaded by name."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from pybin2img.compile import named
from pybin2img.compile.distinfo import project_dist_info
from pybin2img.compile.named import NamedLibrary, NamedModules, config_checksum
from pybin2img.plan.libraries import find_libraries, library_data
from pybin2img.resolve.ldcache import CacheEntry, LdCache

PROBE = {
    "modules": [
        {"module": "app.tasks", "file": "/app/main.py", "line": 3},
        {
            "module": "boto3.dynamodb.transform",
            "file": "/venv/boto3/session.py",
            "line": 536,
            "kind": "string",
            "by": ["boto3.session"],
        },
        {
            "module": "queue",
            "file": "/venv/pyarrow/io.pxi",
            "line": 33,
            "kind": "extension",
            "by": ["pyarrow.lib"],
        },
        {
            "module": "dp.data.en",
            "file": "/venv/dp/loader.py",
            "line": 204,
            "kind": "prefix",
            "by": ["dp.loader"],
        },
        {
            "module": "dp.data.fr",
            "file": "/venv/dp/loader.py",
            "line": 204,
            "kind": "prefix",
            "by": ["dp.loader"],
        },
        {
            "module": "flake8.plugins.pyflakes",
            "file": "/venv/flake8/finder.py",
            "line": 22,
            "kind": "entry point",
            "by": ["flake8.plugins.finder", ""],
        },
    ],
    "prefixes": [
        {
            "prefix": "dp.data.",
            "package": "dp.data",
            "file": "/venv/dp/loader.py",
            "line": 204,
            "modules": 2,
            "added": True,
            "limit": 500,
        },
        {
            "prefix": "pyarrow.",
            "package": "pyarrow",
            "file": "/venv/pyarrow/__init__.py",
            "line": 90,
            "modules": 52,
            "added": False,
            "limit": 40,
        },
    ],
    "entry_points": [
        {
            "group": "flake8.extension",
            "file": "/venv/flake8/finder.py",
            "line": 22,
            "targets": [
                {
                    "distribution": "flake8",
                    "name": "F",
                    "value": "flake8.plugins.pyflakes:FlakesChecker",
                    "module": "flake8.plugins.pyflakes",
                },
                {"distribution": "gone", "name": "G", "value": "gone:x", "module": None},
            ],
        }
    ],
    "libraries": [{"library": "magic", "file": "/venv/magic/loader.py", "line": 9}],
    "analysers": [{"package": "astroid", "file": "/venv/astroid/__init__.py", "why": "infers"}],
    "metadata": [
        {"name": "flake8", "version": "7.1.0", "modules": ["flake8"]},
        {"name": "protobuf", "version": "5.0", "modules": ["google.protobuf"]},
        {"name": "proto-plus", "version": "1.0", "modules": ["proto"]},
        {"name": "googleapis-common-protos", "version": "1.0", "modules": ["google.api"]},
        {"name": "it's", "version": "1", "modules": ["its"]},
    ],
    "installed": {"files": 191, "cached": 180, "extensions": 2, "seconds": 0.4, "stopped": None},
    "scanned": 4,
}


def test_what_the_app_names_is_compiled_in_and_what_packages_name_with_them() -> None:
    named = NamedModules.from_probe(PROBE)
    assert named.nuitka_args() == (
        "--include-module=app.tasks",
        "--include-module=flake8.plugins.pyflakes",  # looked up by the app's files too
    )
    text = _without_checksums(named.package_configuration())
    assert (
        "- module-name: 'dp.loader'\n"
        "  implicit-imports:\n"
        "    - depends:\n"
        "        - 'dp.data.en'\n"
        "        - 'dp.data.fr'\n" in text
    )
    assert (
        "- module-name: 'pyarrow.lib'\n  implicit-imports:\n    - depends:\n        - 'queue'\n"
        in text
    )
    assert "- module-name: 'boto3.session'\n" in text
    assert "- module-name: 'flake8.plugins.finder'\n" in text


def test_package_configuration_keeps_each_distributions_metadata() -> None:
    text = _without_checksums(NamedModules.from_probe(PROBE).package_configuration())
    assert (
        "- module-name: 'flake8'\n  data-files:\n    - include-metadata:\n        - 'flake8'\n"
        in text
    )
    assert "- module-name: 'google.protobuf'\n" in text
    assert "        - 'it''s'\n" in text  # YAML single quotes doubled
    # With nothing found, only the code appended to importlib.metadata and pkg_resources, and
    # tzdata's nested areas.
    alone = NamedModules().package_configuration()
    assert [line for line in alone.splitlines() if line.startswith("- ")] == [
        f"- module-name: {named._quote(module)} # checksum: {_appended_checksum(module)}"
        for module in ("importlib.metadata", "importlib_metadata", "pkg_resources")
    ] + [
        "- module-name: 'tzdata.zoneinfo.America' # checksum: "
        + named.config_checksum({"implicit-imports": [{"depends": [".*"]}]})
    ]
    # a change of what is installed is a change of the compile key
    other = dict(PROBE, metadata=PROBE["metadata"][:1])  # type: ignore[call-overload]
    assert NamedModules.from_probe(other).cache_key() != NamedModules.from_probe(PROBE).cache_key()


def _without_checksums(text: str | None) -> str:
    assert text is not None
    assert all(" # checksum: " in line for line in text.splitlines() if line.startswith("- "))
    return re.sub(r" # checksum: [0-9a-f]+", "", text)


def test_describe_says_what_and_where() -> None:
    lines = NamedModules.from_probe(PROBE).describe()
    assert "named in a string: app.tasks (/app/main.py, line 3)" in lines
    assert "named in a string: boto3.dynamodb.transform (/venv/boto3/session.py, line 536)" in lines
    assert "imported by an extension module: queue (/venv/pyarrow/io.pxi, line 33)" in lines
    assert (
        "imported by a computed name: dp.data.* (/venv/dp/loader.py, line 204): 2 modules" in lines
    )
    assert any(
        line.startswith("not added: pyarrow.* (/venv/pyarrow/__init__.py, line 90), imported")
        for line in lines
    )
    assert (
        "entry-point group flake8.extension looked up (/venv/flake8/finder.py, line 22): "
        "flake8.plugins.pyflakes:FlakesChecker, gone:x (not found)" in lines
    )
    assert lines[-1] == (
        "installed packages read: 191 files (180 from the probe's cache, 2 extension modules) "
        "in 0.4s; modules added: 2 named in a string, 2 imported by a computed name, "
        "1 imported by an extension module, 1 an entry point's target, libraries loaded by name: 1"
    )
    metadata = NamedModules.from_probe(PROBE).as_metadata()
    assert metadata["entry_points"][0]["group"] == "flake8.extension"
    assert metadata["entry_points"][0]["where"] == "/venv/flake8/finder.py, line 22"
    assert metadata["installed"]["files"] == 191
    assert metadata["source_analysers"] == [
        {"package": "astroid", "why": "infers", "where": "/venv/astroid/__init__.py"}
    ]


def test_project_metadata_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Tool\n")
    (tmp_path / "pyproject.toml").write_text(
        "[project]\n"
        'name = "my.Tool"\n'
        'version = "1.4.2"\n'
        'description = "Does\\n things"\n'
        'readme = "README.md"\n'
        'requires-python = ">=3.10"\n'
        'license = "MIT"\n'
        'authors = [{name = "Ann", email = "ann@example.org"}, {name = "Bob"}]\n'
        'dependencies = ["jinja2>=3"]\n'
        "[project.optional-dependencies]\n"
        "fast = ['orjson; python_version < \"3.13\"']\n"
        "[project.scripts]\n"
        'tool = "tool.cli:main"\n'
        '[project.entry-points."tool.plugins"]\n'
        'plain = "tool.plugins:plain"\n'
    )
    info, note = project_dist_info(tmp_path / "pyproject.toml", tmp_path, ["tool"])
    assert note is None
    assert info is not None
    assert info.directory == "my_Tool-1.4.2.dist-info"
    files = dict(info.files)
    assert files["METADATA"] == (
        "Metadata-Version: 2.1\n"
        "Name: my.Tool\n"
        "Version: 1.4.2\n"
        "Summary: Does things\n"
        "Requires-Python: >=3.10\n"
        "License-Expression: MIT\n"
        "Author: Bob\n"
        "Author-email: Ann <ann@example.org>\n"
        "Requires-Dist: jinja2>=3\n"
        "Provides-Extra: fast\n"
        'Requires-Dist: orjson; (python_version < "3.13") and extra == "fast"\n'
        "Description-Content-Type: text/markdown\n"
        "\n"
        "# Tool\n"
    )
    assert files["entry_points.txt"] == (
        "[console_scripts]\ntool = tool.cli:main\n\n[tool.plugins]\nplain = tool.plugins:plain\n"
    )
    assert files["top_level.txt"] == "tool\n"
    info.write(tmp_path / "meta")
    assert (tmp_path / "meta" / info.directory / "METADATA").read_text() == files["METADATA"]


def test_project_dynamic_version(tmp_path: Path) -> None:
    (tmp_path / "src" / "tool").mkdir(parents=True)
    (tmp_path / "src" / "tool" / "__init__.py").write_text('"""Tool."""\n__version__ = "2.0"\n')
    pyproject = tmp_path / "pyproject.toml"
    base = '[project]\nname = "tool"\ndynamic = ["version"]\n'
    pyproject.write_text(
        base + '[tool.setuptools.dynamic]\nversion = {attr = "tool.__version__"}\n'
    )
    root = tmp_path / "src"
    assert project_dist_info(pyproject, root, ["tool"])[0].version == "2.0"  # type: ignore[union-attr]
    (tmp_path / "VERSION").write_text("3.1\n")
    pyproject.write_text(base + '[tool.setuptools.dynamic]\nversion = {file = "VERSION"}\n')
    assert project_dist_info(pyproject, root, ["tool"])[0].version == "3.1"  # type: ignore[union-attr]
    pyproject.write_text(base + '[tool.hatch.version]\npath = "src/tool/__init__.py"\n')
    assert project_dist_info(pyproject, root, ["tool"])[0].version == "2.0"  # type: ignore[union-attr]
    pyproject.write_text(base)  # the single package's __version__
    assert project_dist_info(pyproject, root, ["tool"])[0].version == "2.0"  # type: ignore[union-attr]
    (tmp_path / "src" / "tool" / "__init__.py").write_text("")
    info, note = project_dist_info(pyproject, root, ["tool"])
    assert info is None
    assert note is not None
    assert "version of tool is dynamic" in note


def test_libraries_by_name_as_the_build_machine_has_them() -> None:
    def entry(name: str) -> CacheEntry:
        return CacheEntry(name=name, path=f"/usr/lib/x86_64-linux-gnu/{name}", flags=0x0303)

    cache = LdCache(
        entries=(
            entry("libmagic.so"),
            entry("libmagic.so.1"),
            entry("libz.so.1"),
            entry("libc.so.6"),
        )
    )
    names = [
        "magic",
        "libmagic.so.1",
        "libz.so.1",
        "c",
        "libnothere.so.2",
        "nothere",
        "/no/such.so",
    ]
    found = find_libraries([NamedLibrary(name=n, where="x.py, line 1") for n in names], cache)
    assert [f.library for f in found] == [
        "libmagic.so.1",  # the versioned soname, as find_library answers in the image
        "libmagic.so.1",
        "libz.so.1",
        "libc.so.6",
        None,
        None,
        None,
    ]
    assert all(f.library is None for f in find_libraries(found[0:1] and [found[0].named], None))


def test_a_library_only_in_a_directory_of_the_machines_ld_so_conf_is_not_added() -> None:
    # A CUDA toolkit in /usr/local/cuda-13.0/lib (zz-cuda-13-0.conf): onnxruntime asks for
    # libcudart.so in a try; the image's loader would not search there.
    cache = LdCache(
        entries=(
            CacheEntry(
                name="libcudart.so", path="/usr/local/cuda-13.0/lib/libcudart.so", flags=0x0303
            ),
            CacheEntry(name="libz.so.1", path="/lib/x86_64-linux-gnu/libz.so.1", flags=0x0303),
            CacheEntry(
                name="libm.so.6", path="/usr/lib/glibc-hwcaps/x86-64-v3/libm.so.6", flags=0x0303
            ),
        )
    )
    names = ["libcudart.so", "z", "libm.so.6"]
    found = find_libraries([NamedLibrary(name=n, where="x.py, line 1") for n in names], cache)
    assert [(f.library, f.elsewhere) for f in found] == [
        (None, "/usr/local/cuda-13.0/lib/libcudart.so"),
        ("libz.so.1", None),
        ("libm.so.6", None),
    ]


def _appended_checksum(module: str) -> str:
    why, code = named.APPENDED[module]
    return config_checksum({"anti-bloat": [{"description": why, "append_plain": code}]})


def test_appended_code_as_written() -> None:
    """Each block under ``append_plain: |`` is the code, as YAML reads a literal block."""
    lines = NamedModules().package_configuration().splitlines()
    for module, (why, code) in named.APPENDED.items():
        start = lines.index(
            f"- module-name: {named._quote(module)} # checksum: {_appended_checksum(module)}"
        )
        assert lines[start + 1 : start + 4] == [
            "  anti-bloat:",
            f"    - description: {named._quote(why)}",
            "      append_plain: |",
        ]
        block = []
        for line in lines[start + 4 :]:
            if not line.startswith("        "):
                break
            block.append(line[8:])
        assert "\n".join(block) + "\n" == code
        compile(code, module, "exec")


def test_checksums_as_nuitka_computes_them() -> None:
    # entries of Nuitka 4.3's own standard.nuitka-package.config.yml, with their checksums
    assert config_checksum({"data-files": [{"include-metadata": ["debian"]}]}) == "a633a55a"
    assert (
        config_checksum({"implicit-imports": [{"depends": ["pyarrow.vendored.version"]}]})
        == "302be0c2"
    )
    assert (
        config_checksum(
            {
                "implicit-imports": [{"depends": ["charset_normalizer.md__mypyc"]}],
                "import-hacks": [{"recompile-extensions": "no"}],
            }
        )
        == "63d29872"
    )
    assert (
        config_checksum(
            {
                "anti-bloat": [
                    {
                        "description": "workaround hard module import attribute bug",
                        "append_plain": "from .utils.tqdm import tqdm",
                    }
                ]
            }
        )
        == "da417692"
    )


def test_data_of_a_library_loaded_by_name(tmp_path: Path) -> None:
    """A library's own package's files and those of the data-only packages it depends on."""
    files = {
        "usr/lib/x86_64-linux-gnu/libmagic.so.1.0.0": b"\x7fELF",
        "etc/magic": b"# local magic\n",
        "usr/share/doc/libmagic1/copyright": b"",
        "usr/lib/file/magic.mgc": b"compiled magic",
        "usr/lib/x86_64-linux-gnu/libz.so.1.3": b"\x7fELF",
        "usr/share/doc/zlib1g/copyright": b"",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libmagic.so.1").symlink_to("libmagic.so.1.0.0")
    (tmp_path / "usr/share/misc").mkdir(parents=True)
    (tmp_path / "usr/share/misc/magic.mgc").symlink_to("../../lib/file/magic.mgc")
    info = tmp_path / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / "libmagic1:amd64.list").write_text(
        "/.\n/etc\n/etc/magic\n/usr/lib/x86_64-linux-gnu/libmagic.so.1.0.0\n"
        "/usr/lib/x86_64-linux-gnu/libmagic.so.1\n/usr/share/doc/libmagic1/copyright\n"
    )
    (info / "libmagic-mgc.list").write_text(
        "/.\n/usr/lib/file/magic.mgc\n/usr/share/misc/magic.mgc\n"
    )
    (info / "zlib1g:amd64.list").write_text(
        "/usr/lib/x86_64-linux-gnu/libz.so.1.3\n/usr/share/doc/zlib1g/copyright\n"
    )
    (tmp_path / "var/lib/dpkg/status").write_text(
        "Package: libmagic1\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:5.44-3\n"
        "Depends: zlib1g (>= 1:1.1.4), libmagic-mgc (= 1:5.44-3) | nothing-else\n\n"
        "Package: libmagic-mgc\nStatus: install ok installed\nArchitecture: amd64\n"
        "Version: 1:5.44-3\n\n"
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
        "Version: 1:1.2.13\n\n"
    )
    data = library_data(["/usr/lib/x86_64-linux-gnu/libmagic.so.1"], root=tmp_path)
    assert data.files == (
        ("/etc/magic", "libmagic1"),
        ("/usr/lib/file/magic.mgc", "libmagic-mgc"),
        ("/usr/share/misc/magic.mgc", "libmagic-mgc"),
    )
    assert data.too_large == ()


def test_data_packages_built_from_a_librarys_own_source(tmp_path: Path) -> None:
    """Every library of the image brings the data-only packages it depends on that come from
    its own source (libproj25 -> proj-data: its database); not its own package's files, not a
    library package's, not a data-only package of another source (debconf)."""
    files = {
        "usr/lib/x86_64-linux-gnu/libproj.so.25.9.1.1": b"\x7fELF",
        "usr/share/proj/proj.db": b"SQLite format 3",
        "usr/share/doc/proj-data/copyright": b"",
        "usr/share/debconf/confmodule": b"#!/bin/sh",
        "etc/proj.conf": b"",
        "usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6": b"\x7fELF",
        "usr/share/sqlite3/data.txt": b"",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libproj.so.25").symlink_to("libproj.so.25.9.1.1")
    info = tmp_path / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / "libproj25:amd64.list").write_text(
        "/etc/proj.conf\n/usr/lib/x86_64-linux-gnu/libproj.so.25.9.1.1\n"
        "/usr/lib/x86_64-linux-gnu/libproj.so.25\n"
    )
    (info / "proj-data.list").write_text(
        "/usr/share/proj/proj.db\n/usr/share/doc/proj-data/copyright\n"
    )
    (info / "debconf.list").write_text("/usr/share/debconf/confmodule\n")
    (info / "libsqlite3-0:amd64.list").write_text(
        "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n/usr/share/sqlite3/data.txt\n"
    )
    (tmp_path / "var/lib/dpkg/status").write_text(
        "Package: libproj25\nStatus: install ok installed\nArchitecture: amd64\n"
        "Source: proj\nVersion: 9.1.1-1+b1\n"
        "Depends: proj-data (>= 9.1.1-1), libsqlite3-0, debconf | debconf-2.0\n\n"
        "Package: proj-data\nStatus: install ok installed\nArchitecture: all\n"
        "Source: proj (9.1.1-1)\nVersion: 9.1.1-1\n\n"
        "Package: debconf\nStatus: install ok installed\nArchitecture: all\n"
        "Version: 1.5.82\n\n"
        "Package: libsqlite3-0\nStatus: install ok installed\nArchitecture: amd64\n"
        "Source: sqlite3\nVersion: 3.40.1-2\n\n"
    )
    data = library_data(
        ["/usr/lib/x86_64-linux-gnu/libproj.so.25"], root=tmp_path, companions_only=True
    )
    assert data.files == (("/usr/share/proj/proj.db", "proj-data"),)


def test_a_failed_smoke_test_names_trace_when_libraries_were_loaded_by_name() -> None:
    from pybin2img.errors import SmokeTestError
    from pybin2img.plan.libraries import FoundLibrary, library_names
    from pybin2img.ship.smoke import hint_trace

    found = library_names(
        (FoundLibrary(named=NamedLibrary(name="magic", where="x"), library="libmagic.so.1"),)
    )
    with (
        pytest.raises(SmokeTestError, match=r"libmagic\.so\.1.*--trace") as raised,
        hint_trace(found, traced=False),
    ):
        raise SmokeTestError("smoke test: the output shows 'MagicException'", details="tail")
    assert raised.value.details == "tail"
    # --trace was used: nothing more to say
    with (
        pytest.raises(SmokeTestError, match=r"MagicException'$"),
        hint_trace(found, traced=True),
    ):
        raise SmokeTestError("smoke test: the output shows 'MagicException'")


@pytest.mark.parametrize(
    ("call", "found"),
    [
        ("os.system('ls -l')", ("/bin/sh", "os.system")),
        ("os.popen(command)", ("/bin/sh", "os.popen")),
        ("subprocess.getoutput('date')", ("/bin/sh", "subprocess.getoutput")),
        ("subprocess.run('git status', shell=True)", ("/bin/sh", "subprocess.run")),
        ("subprocess.run(['git', 'status'], check=True)", ("git", "subprocess.run")),
        ("subprocess.Popen(('/usr/bin/convert', src))", ("/usr/bin/convert", "subprocess.Popen")),
        ("subprocess.check_output('uname')", ("uname", "subprocess.check_output")),
        (
            "asyncio.create_subprocess_exec('ffmpeg', '-i', path)",
            ("ffmpeg", "asyncio.create_subprocess_exec"),
        ),
        ("os.execvp('nginx', args)", ("nginx", "os.execvp")),
        ("subprocess.run([sys.executable, '-m', 'pip'])", ("sys.executable", "subprocess.run")),
        ("subprocess.run([python, '-m', 'pip'])", None),  # known at run time only
        ("subprocess.run(command)", None),
        ("subprocess.run('git status')", None),  # no such program, here or there
        ("run(['git'])", None),  # any run()
        ("shutil.which('git')", None),  # asks; the code decides
    ],
)
def test_programs_the_apps_code_runs(call: str, found: tuple[str, str] | None) -> None:
    from pybin2img.compile import _probe_app

    node = ast.parse(call).body[0]
    assert isinstance(node, ast.Expr)
    assert isinstance(node.value, ast.Call)
    assert _probe_app.program_run(node.value) == found


@pytest.mark.parametrize(
    ("code", "found"),
    [
        ("inspect.getsource(f)", "inspect.getsource"),
        ("inspect.getsourcelines(f)", "inspect.getsourcelines"),
        ("from inspect import getsource, signature", "inspect.getsource"),
        ("from typeguard import typechecked", "typeguard.typechecked"),
        ("typeguard.typechecked(f)", "typeguard.typechecked"),
        ("inspect.signature(f)", None),
        ("from inspect import signature", None),
        ("from .inspect import getsource", None),  # the app's own module of that name
        ("getsource(f)", None),  # by a name: the import says it
    ],
)
def test_what_reads_source_in_the_apps_code(code: str, found: str | None) -> None:
    from pybin2img.compile import _probe_app

    node = ast.parse(code).body[0]
    target = node.value if isinstance(node, ast.Expr) else node
    assert isinstance(target, (ast.Call, ast.ImportFrom))
    assert _probe_app.source_read(target) == found


def test_where_the_apps_files_ship(tmp_path: Path) -> None:
    from pybin2img.compile import _probe_app

    roots = [str(tmp_path), str(tmp_path / "src")]
    assert _probe_app.shipped_as(str(tmp_path / "app.py"), roots) == "app.py"
    assert _probe_app.shipped_as(str(tmp_path / "src/pkg/mod.py"), roots) == "pkg/mod.py"
    assert _probe_app.shipped_as(str(tmp_path / "pkg/__init__.py"), roots) == "pkg/__init__.py"
    assert _probe_app.shipped_as("/elsewhere/app.py", roots) is None


def test_module_names_in_a_configuration_file_the_app_ships(tmp_path: Path) -> None:
    from pybin2img.compile import _probe_app

    config = tmp_path / "logging.yaml"
    config.write_text(
        "version: 1\n"
        "formatters:\n"
        "  json: {'()': pythonjsonlogger.json.JsonFormatter}\n"
        "handlers:\n"
        "  file: {class: logging.handlers.RotatingFileHandler, filename: /var/log/app.log}\n"
        "  out: {class: logging.StreamHandler, stream: 'ext://sys.stdout'}\n"
        "worker_class: uvicorn.workers:UvicornWorker  # see the docs.\n"
        "app: main:app\n"
        "version_string: 1.2.3, level: INFO, url: https://example.com/a.b\n"
    )
    assert _probe_app.config_names(str(config)) == [
        ("pythonjsonlogger.json.JsonFormatter", 3),
        ("logging.handlers.RotatingFileHandler", 5),
        ("app.log", 5),
        ("logging.StreamHandler", 6),
        ("sys.stdout", 6),
        ("uvicorn.workers:UvicornWorker", 7),
        ("main:app", 8),
        ("example.com", 9),
        ("a.b", 9),
    ]
    # (the probe keeps those that name a module it finds: not app.log, sys.stdout, example.com)
    binary = tmp_path / "data.json"
    binary.write_bytes(b"pkg.mod\0")
    large = tmp_path / "large.json"
    large.write_text("pkg.mod " * (_probe_app.CONFIG_MAX_BYTES // 8 + 1))
    assert _probe_app.config_names(str(binary)) == _probe_app.config_names(str(large)) == []
    assert _probe_app.config_names(str(tmp_path / "gone.json")) == []


_JOBLIB_SCRIPT = """
from joblib import Parallel, delayed
import mymodule

def work(i):
    return i

def main():
    Parallel(n_jobs=2)(delayed(work)(i) for i in range(4))
    Parallel(n_jobs=2)(delayed(lambda i: i)(i) for i in range(4))
    Parallel(n_jobs=2, prefer="threads")(delayed(work)(i) for i in range(4))
    Parallel(n_jobs=2, backend="multiprocessing")(delayed(work)(i) for i in range(4))
    Parallel(1)(delayed(work)(i) for i in range(4))
    Parallel(n_jobs=-1)(delayed(mymodule.work)(i) for i in range(4))
    with Parallel(n_jobs=2) as parallel:
        parallel(delayed(work)(i) for i in range(4))
"""


def test_main_script_functions_given_to_joblibs_process_workers() -> None:
    """A function of the main script (or a lambda) given to ``delayed`` for joblib's process
    workers, which get it as code; not in threads, multiprocessing, one process, nor a
    function of another module (pickled by name)."""
    from pybin2img.compile import _probe_app

    found = _probe_app.main_functions_to_workers(ast.parse(_JOBLIB_SCRIPT))
    assert found == [("work", 9), ("a lambda", 10), ("work", 16)]
    without = _JOBLIB_SCRIPT.replace("from joblib import Parallel, delayed", "")
    assert _probe_app.main_functions_to_workers(ast.parse(without)) == []


def test_programs_the_image_lacks() -> None:
    from pybin2img.oci import Entry, Kind
    from pybin2img.plan import missing_programs

    def entry(path: str, kind: Kind = Kind.FILE, target: str | None = None) -> Entry:
        source = f"/host{path}" if kind is Kind.FILE else None
        return Entry(path=path, kind=kind, mode=0o755, uid=0, gid=0, source=source, target=target)

    nodes = {
        e.path: e
        for e in (
            entry("/", Kind.DIR),
            entry("/usr", Kind.DIR),
            entry("/usr/bin", Kind.DIR),
            entry("/bin", Kind.SYMLINK, "usr/bin"),  # merged /usr
            entry("/usr/bin/tini"),
            entry("/usr/bin/git"),
            entry("/app", Kind.DIR),
            entry("/app/tool"),
        )
    }
    programs = [
        named.NamedProgram(program=program, call="subprocess.run", where=f"app.py, line {n}")
        for n, program in enumerate(("/bin/sh", "tini", "git", "/bin/tini", "tool", "./tool", "jq"))
    ]
    itself = named.NamedProgram(program="sys.executable", call="subprocess.run", where="a.py")
    assert missing_programs([itself], nodes, ()) == [
        "a.py: subprocess.run runs sys.executable, which in the image is no Python interpreter "
        "(there is none): a file beside the program that does not exist (FileNotFoundError), or, "
        "where the app imports multiprocessing, the program itself (the command runs the app "
        "again, or fails with -m or -c, exit code 2)"
    ]
    warned = missing_programs(programs, nodes, ())
    assert warned == [
        "app.py, line 0: subprocess.run runs its command through /bin/sh, which the image does "
        "not have; give the program and its arguments as a list, without shell=True, or build "
        "on a --base that has a shell",
        "app.py, line 4: subprocess.run runs 'tool', which the image does not have on its PATH; "
        "add it (--add-file, with --trace for what it loads) or build on a --base that has it",
        "app.py, line 6: subprocess.run runs 'jq', which the image does not have on its PATH; "
        "add it (--add-file, with --trace for what it loads) or build on a --base that has it",
    ]
    # The image's PATH is its --env's.
    assert len(missing_programs(programs, nodes, ("PATH=/app",))) == 4  # sh, tini, git, jq


def test_files_of_the_build_machine_the_app_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Absolute paths that exist here (not the kernel's, the runtime's, temporary files, the
    engine's own files, one-part paths, the app's own files) and fonts by their file name,
    found where Pillow looks them up (a user's own given the system's directory)."""
    from pybin2img.compile import _probe_app

    app = tmp_path / "app"
    (app / "data").mkdir(parents=True)
    (app / "Beside.ttf").write_bytes(b"font")
    system, user = tmp_path / "usr-share-fonts", tmp_path / "home" / "fonts"
    (system / "truetype" / "dejavu").mkdir(parents=True)
    (system / "truetype" / "dejavu" / "DejaVuSans.ttf").write_bytes(b"font")
    (system / "Beside.ttf").write_bytes(b"font")
    user.mkdir(parents=True)
    (user / "Mine.otf").write_bytes(b"font")
    words = tmp_path / "share" / "words"
    words.parent.mkdir()
    words.write_text("a\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_probe_app, "FONT_DIRS", ("~/fonts", "/nowhere/fonts", str(system)))
    # this test's files are in /tmp, a tree never taken (the image's own /tmp)
    kept = tuple(p for p in _probe_app._NOT_HOST_FILES if p != "/tmp")
    monkeypatch.setattr(_probe_app, "_NOT_HOST_FILES", kept)
    strings = [
        (str(words), "app.py", 1),
        (str(words.parent), "app.py", 2),
        (str(words) + "-not-there", "app.py", 3),
        ("/proc/self/status", "app.py", 4),
        ("/etc/hosts", "app.py", 5),
        ("/var/tmp/x", "app.py", 6),
        ("/usr", "app.py", 7),  # one part: more often a URL's path
        (str(app / "data"), "app.py", 8),
        ("DejaVuSans.ttf", "app.py", 9),
        ("Beside.ttf", "app.py", 10),  # beside the app: the app's own
        ("Mine.otf", "app.py", 11),
        ("Missing.ttf", "app.py", 12),
        (str(words), "app.py", 13),  # named again
    ]
    found = _probe_app.host_paths(strings, [str(app)])
    dejavu = f"{system}/truetype/dejavu/DejaVuSans.ttf"
    assert [(p["path"], p["dest"], p["dir"], p["font"], p["line"]) for p in found] == [
        (f"{user}/Mine.otf", f"{system}/Mine.otf", False, "Mine.otf", 11),
        (str(words.parent), str(words.parent), True, None, 2),
        (str(words), str(words), False, None, 1),
        (dejavu, dejavu, False, "DejaVuSans.ttf", 9),
    ]


def test_files_of_the_build_machine_the_image_lacks() -> None:
    from pybin2img.oci import Entry, Kind
    from pybin2img.plan import missing_host_files

    def entry(path: str, kind: Kind = Kind.FILE) -> Entry:
        source = f"/host{path}" if kind is Kind.FILE else None
        return Entry(path=path, kind=kind, mode=0o644, uid=0, gid=0, source=source)

    nodes = {
        e.path: e
        for e in (
            entry("/", Kind.DIR),
            entry("/etc", Kind.DIR),
            entry("/etc/mime.types"),
            entry("/usr", Kind.DIR),
            entry("/usr/share", Kind.DIR),
        )
    }
    paths = [
        ("/etc/mime.types", "/etc/mime.types", False, "", "app.py, line 1"),
        ("/usr/share/dict", "/usr/share/dict", True, "", "app.py, line 2"),
        ("/usr/share/fonts/a/A.ttf", "/usr/share/fonts/a/A.ttf", False, "A.ttf", "app.py, line 3"),
        ("/root/.fonts/B.ttf", "/usr/share/fonts/B.ttf", False, "B.ttf", "app.py, line 4"),
    ]
    assert missing_host_files(paths, nodes) == [
        "app.py, line 2: the app's code names /usr/share/dict, a directory of this machine that "
        "the image does not have: --add-file /usr/share/dict puts it there",
        "app.py, line 3: the app's code names the font A.ttf, which this machine has "
        "(/usr/share/fonts/a/A.ttf) where Pillow looks fonts up, and the image does not: "
        "--add-file /usr/share/fonts/a/A.ttf puts it there",
        "app.py, line 4: the app's code names the font B.ttf, which this machine has "
        "(/root/.fonts/B.ttf) where Pillow looks fonts up, and the image does not: "
        "--add-file /root/.fonts/B.ttf=/usr/share/fonts/B.ttf puts it there",
    ]
    assert missing_host_files([], nodes) == []


INTROSPECTION = {
    "namespaces": [
        {
            "namespace": "GLib",
            "file": "/app/main.py",
            "line": 4,
            "imported": True,
            "handled": "shipped",
            "typelib": "/usr/lib/girepository-1.0/GLib-2.0.typelib",
            "version": "2.0",
            "overrides": True,
        },
        {
            "namespace": "Gtk",
            "file": "/app/main.py",
            "line": 9,
            "imported": True,
            "handled": "absent",
            "typelib": None,
            "version": None,
            "overrides": False,
        },
    ],
}


def test_introspection_namespaces_are_left_to_pygobject_in_the_program() -> None:
    """With namespaces of gi.repository reached, Nuitka's gi plugin is off: the typelibs ship
    in ``girepository/``, the overrides of those found are compiled in, and
    ``GI_TYPELIB_PATH`` is set before ``gi`` is imported, as the plugin sets it."""
    found = NamedModules.from_probe(dict(PROBE, introspection=INTROSPECTION))
    args = found.nuitka_args()
    assert "--disable-plugin=gi" in args
    assert (
        "--include-data-files=/usr/lib/girepository-1.0/GLib-2.0.typelib="
        "girepository/GLib-2.0.typelib" in args
    )
    assert "--include-module=gi.overrides.GLib" in args
    assert not [a for a in args if "Gtk" in a]
    text = _without_checksums(found.package_configuration())
    block = text.split("- module-name: 'gi'\n", 1)[1].split("\n\n", 1)[0]
    assert block.startswith("  implicit-imports:\n    - pre-import-code:\n        - |\n")
    code = "\n".join(line[10:] for line in block.splitlines()[3:])
    assert code == named.GI_TYPELIB_PATH.rstrip("\n")
    ast.parse(code)
    lines = found.describe()
    assert (
        "gi.repository.GLib (/app/main.py, line 4): made by PyGObject in the program from "
        "girepository/GLib-2.0.typelib" in lines
    )
    assert (
        "gi.repository.Gtk (/app/main.py, line 9): no typelib on this machine: its import "
        "fails in the image as here" in lines
    )
    metadata = found.as_metadata()["introspection"]
    assert [(n["namespace"], n["handled"], n["typelib"]) for n in metadata["namespaces"]] == [
        ("GLib", "shipped", "girepository/GLib-2.0.typelib"),
        ("Gtk", "absent", None),
    ]
    # without any, Nuitka's plugin stays and nothing is added
    alone = NamedModules.from_probe(PROBE)
    assert not [a for a in alone.nuitka_args() if "gi" in a.split("=")[0] or "gi." in a]
    assert "module-name: 'gi'" not in alone.package_configuration()
    assert alone.as_metadata()["introspection"]["namespaces"] == []


def test_a_changed_typelib_is_a_new_compile(tmp_path: Path) -> None:
    typelib = tmp_path / "GLib-2.0.typelib"
    typelib.write_bytes(b"one")
    record = json.loads(json.dumps(INTROSPECTION))
    record["namespaces"][0]["typelib"] = str(typelib)
    probe = dict(PROBE, introspection=record)
    before = NamedModules.from_probe(probe).cache_key()
    typelib.write_bytes(b"two")
    assert NamedModules.from_probe(probe).cache_key() != before
