"""Options are built in one place: precedence, conversion and validation, without Nuitka."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import pybin2img.build
from pybin2img.app import AppKind
from pybin2img.cli import main
from pybin2img.errors import ConfigError, UsageError
from pybin2img.options import AS_FILES_FLAG, DEFAULT_AS_FILES, BuildOptions, build_options
from pybin2img.settings import BY_NAME, Project, merge, read_project


def _given(**flags: Any) -> dict[str, tuple[Any, str | None]]:
    return {dest: (value, "flag") for dest, value in flags.items()}


def _project(tmp_path: Path, text: str) -> Project:
    (tmp_path / "pyproject.toml").write_text(text)
    return read_project(tmp_path / "pyproject.toml")


def _options(
    tmp_path: Path,
    project: Project | None = None,
    *,
    environ: dict[str, str] | None = None,
    **flags: Any,
) -> Any:
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    project = project or Project()
    values, sources = merge(_given(**flags), project)
    return build_options(
        values,
        sources=sources,
        app=app,
        project=project,
        environ={"PYBIN2IMG_CACHE_DIR": str(tmp_path / "cache"), **(environ or {})},
        password="secret" if flags.get("password_stdin") else None,
        default_python=Path("/usr/bin/python3"),
    )


def test_flag_beats_environment_beats_pyproject_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command itself, as click reports where each value came from; the build is a
    stub that keeps the options it was given."""
    _project(
        tmp_path,
        "[tool.pybin2img]\n"
        'tag = "from-pyproject"\nuser = "1000"\nworkdir = "/srv"\nstop-signal = "SIGINT"\n'
        'port = ["9000"]\ntmp-volume = false\n',
    )
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    for name in list(os.environ):
        if name.startswith("PYBIN2IMG_") or name in ("SOURCE_DATE_EPOCH", "GITHUB_OUTPUT"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYBIN2IMG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYBIN2IMG_TAG", "from-env")
    monkeypatch.setenv("PYBIN2IMG_USER", "2000")
    monkeypatch.setenv("PYBIN2IMG_PORT", "80 443/udp")
    monkeypatch.setenv("PYBIN2IMG_TMP_VOLUME", "1")  # click's default too, yet it was given
    built: list[BuildOptions] = []

    def build_image(options: BuildOptions, _log: object) -> SimpleNamespace:
        built.append(options)
        return SimpleNamespace(pushed=None, pinned_reference="from-flag:latest@sha256:" + "0" * 64)

    monkeypatch.setattr(pybin2img.build, "build_image", build_image)
    # --workdir is given its default value: given is given, pyproject's /srv loses.
    argv = ["build", str(app), "-v", "-t", "from-flag", "--workdir", "/app"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 0, err
    assert out == f"from-flag:latest@sha256:{'0' * 64}\n"
    [options] = built
    assert options.reference.name == "from-flag"
    assert options.user == "2000"
    assert options.ports == ("80/tcp", "443/udp")
    assert options.tmp_volume is True
    assert options.workdir == "/app"
    assert options.stop_signal == "SIGINT"
    assert options.compression == "gzip"
    shown = {
        line.split()[0]: line.rsplit("[", 1)[1].rstrip("]")
        for line in err.splitlines()
        if line.startswith("  ") and line.rstrip().endswith("]")
    }
    assert {name: shown[name] for name in ("tag", "user", "port", "tmp-volume")} == {
        "tag": "flag",
        "user": "PYBIN2IMG_USER",
        "port": "PYBIN2IMG_PORT",
        "tmp-volume": "PYBIN2IMG_TMP_VOLUME",
    }
    assert (shown["workdir"], shown["stop-signal"], shown["compression"]) == (
        "flag",
        "pyproject",
        "default",
    )


def test_pyproject_paths_are_relative_to_its_directory(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.pybin2img]\nrequirements = "req.txt"\n')
    assert project.values["requirements"] == tmp_path / "req.txt"


def test_unknown_pyproject_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'tzdata'"):
        _project(tmp_path, '[tool.pybin2img]\ntzdat = "always"\n')


def test_project_fields_are_read_once(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        '[project]\nname = "x"\nlicense = {text = "MIT"}\ndependencies = ["click"]\n'
        '[project.scripts]\nx = "x.cli:main"\n',
    )
    assert project.license == "MIT"
    assert project.dependencies == ("click",)
    assert dict(project.scripts) == {"x": "x.cli:main"}


def test_options_are_converted(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    options = _options(
        tmp_path,
        tag="reg.example/team/app:1.2",
        port=("8080", "53/udp"),
        label=("a=b",),
        include_data=(f"{tmp_path / 'data'}=data",),
    )
    assert options.app.kind is AppKind.SCRIPT
    assert options.reference.tag == "1.2"
    assert options.output == Path("app.tar").absolute()
    assert options.ports == ("8080/tcp", "53/udp")
    assert options.labels == (("a", "b"),)
    assert options.include_data == (f"{tmp_path / 'data'}=data",)
    assert options.cache_dir == tmp_path / "cache"
    assert options.registry is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({}, "give the image reference"),
        ({"tag": "x", "workdir": "rel"}, "must be an absolute path"),
        ({"tag": "x", "env": ("=v",)}, "must be KEY=VALUE"),
        ({"tag": "x", "port": ("99999",)}, "NUMBER"),
        ({"tag": "x", "label": ("novalue",)}, "must be KEY=VALUE"),
        ({"tag": "x", "include_data": ("missing=data",)}, "does not exist"),
        ({"tag": "x", "include_data": ("src=/etc",)}, "DEST inside /app"),
        ({"tag": "x", "base": "nonexistent.tar"}, "neither scratch"),
        ({"tag": "x", "mount_from": "team/base"}, "need --push"),
        ({"tag": "x", "compression_level": 10}, "^--compression-level 10: gzip has no level 10"),
        (
            {"tag": "x", "compression": "zstd", "compression_level": 20},
            "its levels are 1 to 19$",
        ),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, flags: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _options(tmp_path, **flags)


def test_debug_after_double_dash_belongs_to_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    argv = ["build", str(app), "-t", "x", "--workdir", "relative"]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--", "--debug"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("pybin2img: error:")
    with pytest.raises(SystemExit):
        main([*argv, "--debug"])
    assert "Traceback" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--debug", *argv])
    assert "Traceback" in capsys.readouterr().err


def test_add_file_places_a_file_at_its_own_path_or_at_dest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "table.dat").write_bytes(b"t")
    monkeypatch.chdir(tmp_path)
    options = _options(
        tmp_path,
        tag="x",
        add_file=("share/table.dat", f"{tmp_path / 'share'}=/srv/share"),
    )
    assert options.extra_files == (
        (str(tmp_path / "share/table.dat"), str(tmp_path / "share/table.dat")),
        (str(tmp_path / "share"), "/srv/share"),
    )
    assert _options(tmp_path, tag="x").extra_files == ()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("=/srv/x", "must be SRC or SRC=/ABSOLUTE/DEST"),
        ("{tmp}/f=srv/x", "must be SRC or SRC=/ABSOLUTE/DEST"),
        ("{tmp}/f=", "must be SRC or SRC=/ABSOLUTE/DEST"),
        ("{tmp}/f=/srv/../etc/passwd", "must be SRC or SRC=/ABSOLUTE/DEST"),
        ("{tmp}/missing", "missing does not exist"),
        ("{tmp}/missing=/srv/x", "missing does not exist"),
    ],
)
def test_add_file_checks_its_source_and_dest(tmp_path: Path, item: str, message: str) -> None:
    (tmp_path / "f").write_bytes(b"f")
    with pytest.raises(UsageError, match=message):
        _options(tmp_path, tag="x", add_file=(item.format(tmp=tmp_path),))


def test_trace_options(tmp_path: Path) -> None:
    untraced = _options(tmp_path, tag="x")
    assert untraced.trace is None
    assert untraced.trace_timeout == 10
    traced = _options(
        tmp_path, tag="x", trace="--check 'two words'", trace_env=("MODE=test", "EMPTY=")
    )
    assert traced.trace == "--check 'two words'"
    assert traced.trace_env == ("MODE=test", "EMPTY=")
    assert _options(tmp_path, tag="x", trace="").trace == ""  # --trace with no ARGS
    with pytest.raises(UsageError, match="--trace-env '=v' must be KEY=VALUE"):
        _options(tmp_path, tag="x", trace="", trace_env=("=v",))


def test_compare_options(tmp_path: Path) -> None:
    plain = _options(tmp_path, tag="x")
    assert (plain.compare, plain.compare_timeout) == (None, 60)
    compared = _options(tmp_path, tag="x", compare="report --all", compare_timeout=9)
    assert (compared.compare, compared.compare_timeout) == ("report --all", 9)
    assert _options(tmp_path, tag="x", compare="").compare == ""  # --compare with no ARGS
    project = _project(tmp_path, '[tool.pybin2img]\ncompare = "check"\ncompare-timeout = 5\n')
    from_project = _options(tmp_path, project, tag="x")
    assert (from_project.compare, from_project.compare_timeout) == ("check", 5)
    enabled = _project(tmp_path, "[tool.pybin2img]\ncompare = true\n")
    assert _options(tmp_path, enabled, tag="x").compare == ""


@pytest.mark.parametrize("name", ["trace", "smoke_test", "compare"])
def test_arguments_that_a_shell_could_not_split_are_a_usage_error(
    tmp_path: Path, name: str
) -> None:
    flag = "--" + name.replace("_", "-")
    with pytest.raises(UsageError, match=f'{flag} "say \'hi": No closing quotation'):
        _options(tmp_path, tag="x", **{name: "say 'hi"})


def test_an_optional_value_may_start_with_a_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--smoke-test=--help` is the smoke test's arguments, not the flag and an option --help."""
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    with pytest.raises(SystemExit) as exited:
        main(["build", str(app), "-t", "x", "-v", "--workdir", "rel", "--smoke-test=--name ci"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.strip().startswith("smoke-test"))
    assert "--name ci" in line
    assert "[flag]" in line
    assert err.strip().splitlines()[-1].endswith("must be an absolute path")


def test_bytecode_packages(tmp_path: Path) -> None:
    default = _options(tmp_path, tag="x")
    assert (default.bytecode, default.compile) == (("third-party",), ())
    assert _options(tmp_path, tag="x", bytecode=("none",)).bytecode == ()
    given = _options(tmp_path, tag="x", bytecode=("pandas", "numpy", "pandas"))
    assert given.bytecode == ("pandas", "numpy")  # replaces the default list
    mixed = _options(tmp_path, tag="x", bytecode=("third-party", "mylib"), compile=("numpy",))
    assert (mixed.bytecode, mixed.compile) == (("third-party", "mylib"), ("numpy",))
    every = _options(tmp_path, tag="x", compile=("all",))
    assert (every.bytecode, every.compile) == ((), ())
    for bad in (("pandas", "none"), ("a-b",)):
        with pytest.raises(UsageError, match="--bytecode"):
            _options(tmp_path, tag="x", bytecode=bad)
    for bad in (("pandas.core",), ("pandas", "all"), ("a-b",)):
        with pytest.raises(UsageError, match="--compile"):
            _options(tmp_path, tag="x", compile=bad)


# --- the CI caches: the cache repository and ccache's remote storage ------------------------------


def test_cache_repo_is_a_repository_reached_like_a_push(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        tag="app:1",
        cache_repo="registry.example.com/team/app-cache",
        cache_mode="read",
        insecure_registry=("registry.example.com",),
        username="ci",
        password_stdin=True,
    )
    repo = options.cache_repo
    assert repo.reference.registry == "registry.example.com"
    assert repo.reference.normalized_path == "team/app-cache"
    assert not repo.writable
    assert repo.registry.insecure_registries == ("registry.example.com",)
    assert repo.registry.credentials.username == "ci"
    assert options.registry is None


def test_credentials_go_to_the_cache_repo_only_on_the_registry_pushed_to(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        tag="ghcr.io/team/app:1",
        push=True,
        cache_repo="registry.example.com/cache",
        username="ci",
        password_stdin=True,
    )
    assert options.registry.credentials.username == "ci"
    assert options.cache_repo.registry.credentials is None  # Docker's config for that one


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"tag": "x", "cache_repo": "reg.example.com/cache:v1"}, "names a repository, not a tag"),
        ({"tag": "x", "cache_repo": "Bad Name"}, "invalid"),
        ({"tag": "x", "username": "ci"}, "need --push"),
    ],
)
def test_bad_cache_repo_options_are_usage_errors(
    tmp_path: Path, flags: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        _options(tmp_path, **flags)


def test_ccache_settings_come_from_the_environment_and_the_flag(tmp_path: Path) -> None:
    environ = {"CCACHE_NAMESPACE": "ci", "CCACHE_SECONDARY_STORAGE": "redis://old", "HOME": "/h"}
    options = _options(tmp_path, environ=environ, tag="x")
    assert dict(options.ccache_env) == {
        "CCACHE_NAMESPACE": "ci",
        "CCACHE_SECONDARY_STORAGE": "redis://old",
    }
    options = _options(
        tmp_path, environ=environ, tag="x", ccache_remote_storage="redis://10.0.0.5:6379"
    )
    assert dict(options.ccache_env) == {
        "CCACHE_NAMESPACE": "ci",
        "CCACHE_REMOTE_STORAGE": "redis://10.0.0.5:6379",
    }


def test_as_files_packages_add_to_the_known_ones(tmp_path: Path) -> None:
    known = ("ruamel.yaml", "twisted.plugins")
    assert _options(tmp_path, tag="x").as_files == DEFAULT_AS_FILES == known
    given = _options(tmp_path, tag="x", as_files=("mypkg", "ruamel.yaml", "mypkg"))
    assert given.as_files == (*known, "mypkg")
    assert _options(tmp_path, tag="x", as_files=("none",)).as_files == ()
    assert _options(tmp_path, tag="x", as_files=("none", "mypkg")).as_files == ("mypkg",)
    with pytest.raises(UsageError, match="--as-files 'my-pkg' must be a package name"):
        _options(tmp_path, tag="x", as_files=("my-pkg",))
    # The flag other messages suggest is the registry's.
    assert BY_NAME["as-files"].flag == AS_FILES_FLAG


def test_no_package_data_packages(tmp_path: Path) -> None:
    assert _options(tmp_path, tag="x").no_package_data == ()
    given = _options(tmp_path, tag="x", no_package_data=("wordcloud", "matplotlib"))
    assert given.no_package_data == ("wordcloud", "matplotlib")
    with pytest.raises(UsageError, match="--no-package-data"):
        _options(tmp_path, tag="x", no_package_data=("a/b",))


def test_nuitka_args_that_pybin2img_gives_itself(tmp_path: Path) -> None:
    """Nuitka takes the last of an option given twice: an output directory, a report, a mode
    or a query of the user's would make the build fail far from its cause."""
    given = ("--include-module=mimetypes", "--report-template=a:b", "--lto=yes", "--standalone")
    assert _options(tmp_path, tag="x", nuitka_arg=given).nuitka_args == given
    for bad, why in (
        ("--report=/tmp/r.xml", "reads Nuitka's report"),
        ("--output-dir=/tmp/out", "chooses where Nuitka writes"),
        ("-o", "chooses where Nuitka writes"),
        ("--mode=onefile", "standalone program"),
        ("--module", "standalone program"),
        ("--run", "does not run the app"),
        ("--list-package-data=pygments", "would list"),
        ("--version", "would print"),
    ):
        with pytest.raises(UsageError, match=f"--nuitka-arg '{bad}' cannot be given: .*{why}"):
            _options(tmp_path, tag="x", nuitka_arg=("--lto=no", bad))
