"""What the dist gets besides Nuitka's output: package data from RECORDs, --include-data as it
is, and the imports of the .py files it ships."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from pybin2img.cache import listing_digest
from pybin2img.compile.pkgfiles import (
    config_files,
    copy_included_data,
    copy_package_files,
    files_args,
    find_module,
    imported_modules,
    package_data,
    python_files,
)
from pybin2img.errors import CompileError


def _install(site: Path, name: str, files: dict[str, bytes]) -> None:
    """A distribution as pip leaves it: its files and a dist-info with their RECORD."""
    rows = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{rel},sha256={digest},{len(data)}")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    rows += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,", "../../../bin/tool,,"]
    (info / "RECORD").write_text("\n".join(rows) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    site.mkdir()
    _install(
        site,
        "wordcloud",
        {
            "wordcloud/__init__.py": b"",
            "wordcloud/wordcloud.py": b"",
            "wordcloud/stopwords": b"a\nthe\n",
            "wordcloud/DroidSansMono.ttf": b"font",
            "wordcloud/query_integral_image.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
            "wordcloud/py.typed": b"",
            "wordcloud/wordcloud.pyi": b"",
            "wordcloud/tests/data.txt": b"x",
            "wordcloud/docs/index.html": b"x",
            "wordcloud/include/wc.h": b"x",
            "wordcloud/mpl-data/fonts/ttf/Sans.ttf": b"sans",
            "wordcloud/bin/helper": b"\x7fELF....",
            "wordcloud/unused/__init__.py": b"",
            "wordcloud/unused/table.json": b"{}",
            "top_level_module.py": b"",
            "loose.txt": b"not in a package",
        },
    )
    _install(site, "other", {"other/__init__.py": b"", "other/schema.json": b"{}"})
    return site


def _rel(dist: Path) -> set[str]:
    return {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()}


def test_data_next_to_compiled_packages_ships(site: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    found = package_data(dist, frozenset({"wordcloud", "wordcloud.wordcloud"}), [str(site)], ())
    assert _rel(dist) == {
        "wordcloud/stopwords",
        "wordcloud/DroidSansMono.ttf",
        "wordcloud/mpl-data/fonts/ttf/Sans.ttf",
    }
    (only,) = found
    assert only.package == "wordcloud"
    assert only.distribution == "wordcloud"
    assert only.size == len(b"a\nthe\n") + len(b"font") + len(b"sans")
    assert (dist / "wordcloud" / "stopwords").read_bytes() == b"a\nthe\n"


def test_a_file_already_in_the_dist_is_kept(site: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "wordcloud").mkdir(parents=True)
    (dist / "wordcloud" / "stopwords").write_text("Nuitka's copy")
    package_data(dist, frozenset({"wordcloud"}), [str(site)], ())
    assert (dist / "wordcloud" / "stopwords").read_text() == "Nuitka's copy"


def test_left_out_packages_and_unused_subpackages(site: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    modules = frozenset({"wordcloud", "other"})
    assert [d.package for d in package_data(dist, modules, [str(site)], ("wordcloud",))] == [
        "other"
    ]
    assert _rel(dist) == {"other/schema.json"}
    # wordcloud.unused is not compiled in: its table is not shipped with wordcloud's data.
    package_data(dist, frozenset({"wordcloud"}), [str(site)], ())
    assert "wordcloud/unused/table.json" not in _rel(dist)


def test_include_data_ships_code_files_but_not_caches(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    (migrations / "versions" / "__pycache__").mkdir(parents=True)
    (migrations / "env.py").write_text("from alembic import context\nimport logging.config\n")
    (migrations / "script.py.mako").write_text("${message}")
    (migrations / "versions" / "001_first.py").write_text("from alembic import op\n")
    (migrations / "versions" / "__pycache__" / "001_first.cpython-311.pyc").write_bytes(b"x")
    single = tmp_path / "alembic.ini"
    single.write_text("[alembic]\n")
    dist = tmp_path / "dist"
    dist.mkdir()
    items = (f"{migrations}=migrations", f"{single}=conf/alembic.ini")
    sources = copy_included_data(dist, items)
    assert _rel(dist) == {
        "migrations/env.py",
        "migrations/script.py.mako",
        "migrations/versions/001_first.py",
        "conf/alembic.ini",
    }
    assert set(sources) == {
        str(migrations / "env.py"),
        str(migrations / "script.py.mako"),
        str(migrations / "versions" / "001_first.py"),
        str(single),
    }
    scripts = python_files(items)
    assert sorted(p.name for p in scripts) == ["001_first.py", "env.py"]
    assert imported_modules(scripts) >= {"alembic", "alembic.context", "logging.config"}
    # configuration files and scripts, whose names the probe reads: not the template
    assert config_files(items) == [
        migrations / "env.py",
        migrations / "versions" / "001_first.py",
        single,
    ]


def test_include_data_that_vanished_is_a_compile_error(tmp_path: Path) -> None:
    with pytest.raises(CompileError, match="cannot copy"):
        copy_included_data(tmp_path, (f"{tmp_path / 'gone.txt'}=gone.txt",))


def test_find_module(site: Path) -> None:
    path = [str(site)]
    stdlib = frozenset({"logging", "sys"})
    assert find_module("wordcloud", path, stdlib)
    assert find_module("wordcloud.wordcloud", path, stdlib)
    assert find_module("wordcloud.query_integral_image", path, stdlib)
    assert find_module("top_level_module", path, stdlib)
    assert find_module("sys", path, stdlib)
    assert not find_module("wordcloud.missing", path, stdlib)
    assert not find_module("nothing", path, stdlib)


def test_files_args(site: Path, tmp_path: Path) -> None:
    _install(
        site,
        "ruamel.yaml",
        {
            "ruamel/yaml/__init__.py": b"",
            "ruamel/yaml/main.py": b"",
            "ruamel/yaml/clibz/__init__.py": b"",
            "ruamel/yaml/clibz/setup.py": b"import setuptools",
            "ruamel/yaml/tests/test_x.py": b"",
        },
    )
    _install(site, "ruamel.yaml.string", {"ruamel/yaml/string/__plug_in__.py": b"import io"})
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "env.py").write_text("import logging.config\nfrom wordcloud import nope\n")
    args = files_args(
        as_files=("ruamel.yaml", "not_installed", "wordcloud"),
        bytecode=("wordcloud",),
        include_data=(f"{migrations}=migrations",),
        search_path=[str(site)],
        stdlib=frozenset({"logging"}),
        workdir=tmp_path,
    )
    config = tmp_path / "as-files.nuitka-package.config.yml"
    assert args == [
        # wordcloud is bytecode already; a package that is not installed gets nothing.
        "--noinclude-custom-mode=ruamel.yaml:bytecode",
        f"--user-package-configuration-file={config}",
        # logging.config is not a file on this search path: only top-level standard library
        # names are known without one.
        "--include-module=logging",
        "--include-module=wordcloud",
    ]
    text = config.read_text()
    assert "- module-name: 'ruamel.yaml'" in text
    assert "        - 'ruamel.yaml.string.__plug_in__'" in text
    assert "        - 'ruamel.yaml.main'" in text
    assert "clibz.setup" not in text
    assert "tests" not in text
    assert "- module-name: 'wordcloud'" in text


def test_package_files_ship_from_every_distribution_installing_there(
    site: Path, tmp_path: Path
) -> None:
    _install(site, "ruamel.yaml", {"ruamel/yaml/__init__.py": b"", "ruamel/yaml/main.py": b"m"})
    _install(site, "ruamel.yaml.string", {"ruamel/yaml/string/__plug_in__.py": b"p"})
    dist = tmp_path / "dist"
    dist.mkdir()
    (found,) = copy_package_files(dist, ["ruamel.yaml"], [str(site)])
    assert found.distribution == "ruamel.yaml, ruamel.yaml.string"
    assert _rel(dist) == {
        "ruamel/yaml/__init__.py",
        "ruamel/yaml/main.py",
        "ruamel/yaml/string/__plug_in__.py",
    }


def _editable(site: Path, project: Path, hook: dict[str, str], *, editable: bool = True) -> None:
    """An editable install as pip leaves it (PEP 660): the project's files stay where they are;
    site-packages gets the hook (``hook``: file name -> text) and a dist-info whose RECORD
    lists only that, and whose ``direct_url.json`` says editable."""
    _install(site, "greeter", {name: text.encode() for name, text in hook.items()})
    info = site / "greeter-1.0.dist-info"
    direct = {"dir_info": {"editable": editable}, "url": f"file://{project}"}
    (info / "direct_url.json").write_text(json.dumps(direct))
    with (info / "RECORD").open("a") as record:
        record.write(f"{info.name}/direct_url.json,,\n")
    files = {
        "greeter/__init__.py": "",
        "greeter/styles.py": "",
        "greeter/greeting.txt": "hello {}",
        "greeter/templates/page.html": "<p>",
        "greeter/tests/fixture.txt": "x",
        "greeter/__pycache__/styles.cpython-311.pyc": "x",
        "greeter/.cache/note.txt": "x",
        "notes.txt": "the project's, not the package's",
    }
    for rel, text in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)


@pytest.mark.parametrize("style", ["finder", "editables", "pth"])
def test_an_editable_installs_data_comes_from_the_project(tmp_path: Path, style: str) -> None:
    """setuptools' finder maps the package to the project (``MAPPING``), as the editables
    library does (hatchling's exact mode: ``map_module``); other backends put a directory on
    ``sys.path`` with a ``.pth`` line. The package's data ships from there, and the files and
    the package's listing are among the dist's sources."""
    site, project, dist = tmp_path / "site", tmp_path / "project", tmp_path / "dist"
    site.mkdir()
    dist.mkdir()
    hook = (
        {
            "__editable__.greeter-1.0.pth": "import __editable___greeter_1_0_finder; x()\n",
            "__editable___greeter_1_0_finder.py": (
                f"MAPPING: dict[str, str] = {{'greeter': '{project / 'greeter'}'}}\n"
                "NAMESPACES: dict[str, list[str]] = {}\n"
            ),
        }
        if style == "finder"
        else {
            "_editable_impl_greeter.pth": "import _editable_impl_greeter",
            "_editable_impl_greeter.py": (
                "from editables.redirector import RedirectingFinder as F\n"
                "F.install()\n"
                f"F.map_module('greeter', '{project / 'greeter' / '__init__.py'}')\n"
            ),
        }
        if style == "editables"
        else {"__editable__.greeter-1.0.pth": f"{project}\n"}
    )
    _editable(site, project, hook)
    (found,) = package_data(dist, frozenset({"greeter", "greeter.styles"}), [str(site)], ())
    assert _rel(dist) == {"greeter/greeting.txt", "greeter/templates/page.html"}
    assert found.distribution == "greeter"
    assert set(found.sources) == {
        str(project / "greeter"),
        str(project / "greeter" / "greeting.txt"),
        str(project / "greeter" / "templates" / "page.html"),
    }
    listing = found.sources[str(project / "greeter")]
    (project / "greeter" / "new.txt").write_text("added")
    assert listing_digest(project / "greeter") != listing


def test_a_pth_of_an_install_that_is_not_editable_is_no_project(tmp_path: Path) -> None:
    site, project, dist = tmp_path / "site", tmp_path / "project", tmp_path / "dist"
    site.mkdir()
    dist.mkdir()
    _editable(site, project, {"greeter.pth": f"{project}\n"}, editable=False)
    assert package_data(dist, frozenset({"greeter"}), [str(site)], ()) == []


def test_a_py_file_outside_the_packages_directories_is_data(tmp_path: Path) -> None:
    """alembic's templates are directories of files `alembic init` copies, ``env.py`` among
    them: no module of the package, since the directory is no regular package."""
    site, dist = tmp_path / "site", tmp_path / "dist"
    site.mkdir()
    dist.mkdir()
    _install(
        site,
        "alembic",
        {
            "alembic/__init__.py": b"",
            "alembic/command.py": b"",
            "alembic/templates/generic/env.py": b"# env",
            "alembic/templates/generic/script.py.mako": b"mako",
            "alembic/templates/generic/README": b"readme",
            "alembic/testing/plugin/__init__.py": b"",
            "alembic/testing/plugin/bootstrap.py": b"",
            "alembic/tests/conftest.py": b"",
        },
    )
    package_data(dist, frozenset({"alembic", "alembic.command"}), [str(site)], ())
    assert _rel(dist) == {
        "alembic/templates/generic/env.py",
        "alembic/templates/generic/script.py.mako",
        "alembic/templates/generic/README",
    }


def test_an_editable_package_below_a_namespace(tmp_path: Path) -> None:
    """setuptools maps ``acme.widgets`` (``acme`` a namespace) to its directory: its data is
    ``acme/widgets/…`` in the dist."""
    site, project, dist = tmp_path / "site", tmp_path / "project", tmp_path / "dist"
    site.mkdir()
    dist.mkdir()
    widgets = project / "acme" / "widgets"
    hook = {
        "__editable___acme_widgets_0_9_finder.py": (
            f"MAPPING: dict[str, str] = {{'acme.widgets': '{widgets}'}}\n"
            "NAMESPACES: dict[str, list[str]] = {'acme': []}\n"
        )
    }
    _editable(site, project, hook)
    widgets.mkdir(parents=True)
    (widgets / "__init__.py").write_text("")
    (widgets / "spec.json").write_text("{}")
    (found,) = package_data(dist, frozenset({"acme", "acme.widgets"}), [str(site)], ())
    assert _rel(dist) == {"acme/widgets/spec.json"}
    assert found.origins == {"acme/widgets/spec.json": str(widgets / "spec.json")}
    assert str(widgets) in found.sources


def test_an_editable_src_layout_below_a_namespace(tmp_path: Path) -> None:
    """setuptools installs a src layout with a ``.pth`` line naming ``src``; ``acme`` there is a
    namespace (no ``__init__.py``): the data of each regular package below it ships."""
    site, project, dist = tmp_path / "site", tmp_path / "project", tmp_path / "dist"
    site.mkdir()
    dist.mkdir()
    src = project / "src"
    _editable(site, project, {"__editable__.acme_widgets-0.9.pth": f"{src}\n"})
    widgets = src / "acme" / "widgets"
    (widgets / "dials").mkdir(parents=True)
    (widgets / "__init__.py").write_text("")
    (widgets / "knob.txt").write_text("round")
    (widgets / "dials" / "__init__.py").write_text("")
    (widgets / "dials" / "face.txt").write_text("12")
    (src / "acme" / "__pycache__").mkdir()
    modules = frozenset({"acme", "acme.widgets", "acme.widgets.dials"})
    (found,) = package_data(dist, modules, [str(site)], ())
    assert _rel(dist) == {"acme/widgets/knob.txt", "acme/widgets/dials/face.txt"}
    assert str(widgets) in found.sources


def test_data_of_a_distribution_installed_without_a_record(tmp_path: Path) -> None:
    """Debian's python3-netaddr: an egg-info without RECORD, its top-level package named in
    top_level.txt; its ``eui/oui.idx`` (and the link to ieee-data's ``oui.txt``) ship as any
    package's data. A package of another distribution in the same directory does not."""
    site = tmp_path / "dist-packages"
    ieee = tmp_path / "ieee-data"
    ieee.mkdir()
    (ieee / "oui.txt").write_text("00-1B-77   (hex)\t\tIntel Corporate\n")
    files = {
        "netaddr/__init__.py": "",
        "netaddr/eui/__init__.py": "",
        "netaddr/eui/oui.idx": "001B77,0,40\n",
        "netaddr/tests/data.txt": "",
        "unrelated/__init__.py": "",
        "unrelated/table.json": "{}",
    }
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (site / "netaddr/eui/oui.txt").symlink_to(ieee / "oui.txt")
    info = site / "netaddr-0.8.0.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: netaddr\nVersion: 0.8.0\n")
    (info / "top_level.txt").write_text("netaddr\n")
    dist = tmp_path / "dist"
    dist.mkdir()
    modules = frozenset({"netaddr", "netaddr.eui", "unrelated"})
    (found,) = package_data(dist, modules, [str(site)], ())
    assert (found.package, found.distribution) == ("netaddr", "netaddr")
    assert _rel(dist) == {"netaddr/eui/oui.idx", "netaddr/eui/oui.txt"}
    assert (dist / "netaddr/eui/oui.txt").read_text().startswith("00-1B-77")
