"""Modules an app names in strings: found by the probe in the build interpreter (no compile)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pybin2img.compile.probe import probe_interpreter
from pybin2img.errors import CompileError

pytestmark = pytest.mark.integration


def _probe(app: Path, *, strings: tuple[str, ...] = (), env: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return probe_interpreter(
        Path(sys.executable),
        [app],
        cwd=app.parent,
        import_path=[app.parent],
        strings=strings,
        env=env,
    ).named


def _modules(app: Path, **kwargs: tuple[str, ...]) -> set[str]:
    return {n.module for n in _probe(app, **kwargs).modules}


def test_module_app_strings_and_class_paths(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        '"""Docstring naming logging.handlers and json: not an import."""\n'
        "import json\n"
        "CONFIG = {'class': 'logging.handlers.RotatingFileHandler', 'fmt': 'json'}\n"
        "FILES = ['setup.py', 'data.json', 'report', 'json.dumps']\n"
        "def serve():\n"
        "    run('app:app', reload=False)\n"
        "    return f'{json}.x'\n"
    )
    found = _modules(app)
    assert found == {"app", "logging.handlers"}


def test_modules_pkg_resources_imports_by_name(tmp_path: Path) -> None:
    """``pkg_resources.resource_*("pkg", ...)`` imports ``pkg`` by that name: a bare word
    there names a module, as it does not elsewhere."""
    app = tmp_path / "app.py"
    app.write_text(
        "import pkg_resources\n"
        "from pkg_resources import resource_filename\n"
        "pkg_resources.resource_exists('json', 'x')\n"
        "resource_filename('email.mime', 'y')\n"
        "pkg_resources.resource_string(__name__, 'z')\n"
        "print('csv')\n"
    )
    assert _modules(app) == {"json", "email.mime"}


def test_own_modules_are_followed(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "conf.py").write_text("TASKS = ['proj.tasks', 'proj.missing']\n")
    (tmp_path / "proj" / "tasks.py").write_text("HANDLER = 'xml.dom.minidom'\n")
    app = tmp_path / "main.py"
    app.write_text("from proj import conf\nprint(conf)\n")
    assert _modules(app) == {"proj.tasks", "xml.dom.minidom"}
    named = _probe(app)
    where = {n.module: n.where for n in named.modules}
    assert where["xml.dom.minidom"] == f"{tmp_path / 'proj' / 'tasks.py'}, line 1"
    assert named.nuitka_args() == (
        "--include-module=proj.tasks",
        "--include-module=xml.dom.minidom",
        "--include-package-data=proj",  # the app's own package: its data files ship
    )


def test_image_arguments_are_read(tmp_path: Path) -> None:
    (tmp_path / "web.py").write_text("app = object()\n")
    app = tmp_path / "main.py"
    app.write_text("import sys\n")
    assert _modules(app, strings=("--bind", "web:app", "-k", "nothing.here")) == {"web"}


def _fake_django(root: Path) -> None:
    for package in (
        "django",
        "django/contrib",
        "django/contrib/auth",
        "django/contrib/auth/migrations",
    ):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "django/contrib/auth/models.py").write_text("")
    (root / "django/contrib/auth/templates").mkdir()


def test_django_settings_module(tmp_path: Path) -> None:
    _fake_django(tmp_path)
    (tmp_path / "site_settings.py").write_text(
        "INSTALLED_APPS = ['django.contrib.auth']\nROOT_URLCONF = 'site_urls'\n"
    )
    (tmp_path / "site_urls.py").write_text("urlpatterns = []\n")
    app = tmp_path / "manage.py"
    app.write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_settings')\n"
        "import django\n"
    )
    named = _probe(app)
    assert named.django_settings == "site_settings"
    assert {"site_settings", "site_urls"} <= {n.module for n in named.modules}
    args = named.nuitka_args()
    assert "--module-parameter=django-settings-module=site_settings" in args
    assert (
        f"--include-data-dir={tmp_path}/django/contrib/auth/templates=django/contrib/auth/templates"
        in args
    )
    # --env wins over the app's default
    assert _probe(app, env=("DJANGO_SETTINGS_MODULE=site_urls",)).django_settings == "site_urls"


def test_django_without_settings_fails_at_build_time(tmp_path: Path) -> None:
    _fake_django(tmp_path)
    app = tmp_path / "main.py"
    app.write_text("import django\ndjango.setup()\n")
    with pytest.raises(CompileError, match="DJANGO_SETTINGS_MODULE"):
        _probe(app)
    app.write_text(
        "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'nowhere.settings'\nimport django\n"
    )
    with pytest.raises(CompileError, match=r"'nowhere\.settings'.*not found"):
        _probe(app)


def test_django_settings_configure(tmp_path: Path) -> None:
    _fake_django(tmp_path)
    app = tmp_path / "main.py"
    app.write_text(
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.auth'])\n"
    )
    (tmp_path / "django" / "conf.py").write_text("")
    named = _probe(app)
    assert named.django_settings is None
    assert "django.contrib.auth" in named.django_packages


def test_gunicorn_workers_named_inside_gunicorn(tmp_path: Path) -> None:
    for package in ("gunicorn", "gunicorn/workers"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "gunicorn" / "workers" / "sync.py").write_text("")
    (tmp_path / "gunicorn" / "glogging.py").write_text("")
    (tmp_path / "wsgi.py").write_text("def app(environ, start_response): ...\n")
    app = tmp_path / "main.py"
    app.write_text("from gunicorn.app.base import BaseApplication\n")
    found = _modules(app, strings=("wsgi:app", "-k", "gunicorn.workers.sync.SyncWorker"))
    assert found == {"wsgi", "gunicorn.workers.sync", "gunicorn.glogging"}


def test_django_settings_split_over_files(tmp_path: Path) -> None:
    _fake_django(tmp_path)
    (tmp_path / "django/contrib/admin").mkdir()
    (tmp_path / "django/contrib/admin/__init__.py").write_text("")
    (tmp_path / "django/contrib/admin/templates").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "__init__.py").write_text("")
    (tmp_path / "conf" / "base.py").write_text("INSTALLED_APPS = ['django.contrib.auth']\n")
    (tmp_path / "conf" / "prod.py").write_text(
        "from .base import *\nINSTALLED_APPS += ['django.contrib.admin']\n"
    )
    app = tmp_path / "manage.py"
    app.write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'conf.prod')\nimport django\n"
    )
    data = {dest for _, dest in _probe(app).django_data}
    assert data == {"django/contrib/auth/templates", "django/contrib/admin/templates"}


def test_own_packages_whose_data_files_ship(tmp_path: Path) -> None:
    """The app's own regular packages it imports or names in a string: their data files ship
    (``--include-package-data``); not its single-file modules, installed packages, the standard
    library, or a package of its folder it never reaches."""
    for package in ("mypkg", "strpkg", "unused"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "sub.py").write_text("")
    (tmp_path / "mymod.py").write_text("")
    app = tmp_path / "app.py"
    app.write_text(
        "import json\nimport pytest\nimport mymod\nfrom mypkg import sub\nHANDLER = 'strpkg.sub'\n"
    )
    named = _probe(app)
    assert named.own_packages == ("mypkg", "strpkg")
    assert "--include-package-data=mypkg" in named.nuitka_args()
    assert "--include-package-data=strpkg" in named.nuitka_args()


def test_files_beside_the_app_that_its_code_names(tmp_path: Path) -> None:
    """What the app's code names beside it (its configuration, a directory it lists) is
    reported, for a warning: only --include-data ships it. A web framework's templates and
    static directories ship."""
    for directory in ("templates", "static", "conf", "pkg"):
        (tmp_path / directory).mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "conf" / "app.toml").write_text("")
    (tmp_path / "settings.json").write_text("{}")
    (tmp_path / "helper.py").write_text("")
    app = tmp_path / "app.py"
    app.write_text(
        "import os\n"
        "HERE = os.path.dirname(__file__)\n"
        "SETTINGS = os.path.join(HERE, 'settings.json')\n"
        "FILES = ['./conf/app.toml', 'conf/', 'helper.py', 'pkg', 'missing.json', '/etc/passwd',\n"
        "         '../settings.json', 'https://example.com/settings.json']\n"
        "def make():\n"
        "    from flask import Flask\n"  # (not installed here: an import in a function)
    )
    named = _probe(app)
    assert [(path, is_dir, where) for path, _source, is_dir, where in named.app_paths] == [
        ("conf", True, f"{app}, line 4"),
        ("conf/app.toml", False, f"{app}, line 4"),
        ("settings.json", False, f"{app}, line 3"),
    ]
    assert named.web_data == (
        ("static", str(tmp_path / "static")),
        ("templates", str(tmp_path / "templates")),
    )
    # without a web framework, its conventional directories are the app's business
    app.write_text("import os\n")
    assert _probe(app).web_data == ()


def test_configuration_files_and_the_environment_name_modules(tmp_path: Path) -> None:
    (tmp_path / "handlers.py").write_text("")
    (tmp_path / "fmt").mkdir()
    (tmp_path / "fmt" / "__init__.py").write_text("")
    (tmp_path / "fmt" / "jsonfmt.py").write_text("")
    config = tmp_path / "logging.yaml"
    config.write_text(
        "handlers:\n  h: {class: handlers.Handler}\nformatters:\n  j: {(): fmt.jsonfmt.Fmt}\n"
    )
    (tmp_path / "workers.py").write_text("")
    script = tmp_path / "gunicorn.conf.py"  # a script shipped as data: its strings
    script.write_text("bind = '0.0.0.0:8000'\nworker_class = 'workers.Worker'\n")
    app = tmp_path / "app.py"
    app.write_text("import logging.config\n")
    named = probe_interpreter(
        Path(sys.executable),
        [app],
        cwd=tmp_path,
        import_path=[tmp_path],
        env=("WORKER=http.server:SimpleHTTPRequestHandler",),
        config_files=[config, script],
    ).named
    where = {n.module: n.where for n in named.modules}
    assert where["handlers"] == f"{config}, line 2"  # the app's own module, followed
    assert where["fmt.jsonfmt"] == f"{config}, line 4"
    assert where["workers"] == f"{script}, line 2"
    assert where["http.server"] == "the image's environment"
