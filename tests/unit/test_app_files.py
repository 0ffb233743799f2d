"""Files beside the app: what ships by itself (a web framework's directories) and what a build
warns about (files the app's code names that only ``--include-data`` ships)."""

from __future__ import annotations

import io
from pathlib import Path

from pybin2img.app import AppKind, AppSpec
from pybin2img.build import _with_app_files
from pybin2img.compile.named import NamedModules
from pybin2img.log import Log
from pybin2img.options import BuildOptions
from pybin2img.reference import parse_reference


def _options(tmp_path: Path, *include_data: str) -> BuildOptions:
    return BuildOptions(
        app=AppSpec(kind=AppKind.SCRIPT, path=tmp_path / "app.py"),
        reference=parse_reference("app"),
        output=tmp_path / "app.tar",
        python=Path("/usr/bin/python3"),
        cache_dir=tmp_path / "cache",
        include_data=include_data,
    )


def test_web_data_ships_and_other_named_files_are_warned_about(tmp_path: Path) -> None:
    named = NamedModules(
        app_paths=(
            ("settings.json", f"{tmp_path}/settings.json", False, "app.py, line 4"),
            ("conf", f"{tmp_path}/conf", True, "app.py, line 5"),
            ("conf/app.toml", f"{tmp_path}/conf/app.toml", False, "app.py, line 5"),
            ("static/site.css", f"{tmp_path}/static/site.css", False, "app.py, line 6"),
            ("mypkg/data.txt", f"{tmp_path}/mypkg/data.txt", False, "app.py, line 7"),
        ),
        web_data=(("static", f"{tmp_path}/static"), ("templates", f"{tmp_path}/templates")),
        own_packages=("mypkg",),
    )
    out = io.StringIO()
    given = f"{tmp_path}/tpl=templates"  # the user's own --include-data for templates
    options = _with_app_files(_options(tmp_path, given), named, Log(stream=out))
    assert options.include_data == (given, f"{tmp_path}/static=static")
    warnings = [line for line in out.getvalue().splitlines() if "warning" in line]
    assert warnings == [
        "pybin2img: warning: the app's code names settings.json (app.py, line 4), a file beside "
        "it that the image does not get: --include-data settings.json=settings.json ships it",
        "pybin2img: warning: the app's code names conf (app.py, line 5), a directory beside "
        "it that the image does not get: --include-data conf=conf ships it",
        "pybin2img: warning: the app's code names conf/app.toml (app.py, line 5), a file beside "
        "it that the image does not get: --include-data conf/app.toml=conf/app.toml ships it",
    ]
    # shipped by the user: no warning
    out = io.StringIO()
    _with_app_files(_options(tmp_path, f"{tmp_path}/conf=conf"), named, Log(stream=out))
    assert "conf" not in out.getvalue()
