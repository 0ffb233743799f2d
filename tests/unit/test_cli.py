"""Bad input on the command line, in process through ``main``: one line on stderr, nothing on
stdout, the documented exit code, no traceback and no tarball.

Each case fails before the compile. Ones that get further (a syntax error, a missing import, an
engine that does not answer, a read-only output directory) are in
tests/integration/test_cli_errors.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybin2img import __version__
from pybin2img.cli import main
from pybin2img.errors import ConfigError, ImageWriteError, UsageError
from tests.imagegen import write_test_image


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory (where a tarball without ``-o`` would land), without the
    caller's PYBIN2IMG_* settings. The tier's conftest refuses to start any program: a case
    that reached the compile would otherwise run Nuitka here."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("PYBIN2IMG_") or name == "SOURCE_DATE_EPOCH":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYBIN2IMG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text("print('hello')\n")
    return path


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, pattern: str) -> str:
    """Run ``pybin2img ARGV``; check it failed cleanly with ``code`` and left the directory
    (the output's, the cache's) as it found it; return the message."""
    before = _tree(Path.cwd())
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == code, err
    assert out == ""
    assert err.endswith("\n")
    assert err.count("\n") == 1, err  # one line, so no traceback
    assert err.startswith("pybin2img: error: "), err
    assert pattern in err, err
    assert _tree(Path.cwd()) == before  # nothing half-written, no directory made
    return err.rstrip("\n")


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.lstat().st_size for p in sorted(root.rglob("*"))}


def test_app_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["build", str(tmp_path / "nope.py"), "-t", "x", "-o", str(tmp_path / "x.tar")]
    fails(capsys, argv, UsageError.exit_code, "does not exist")


def test_invalid_tag(capsys: pytest.CaptureFixture[str], app: Path, tmp_path: Path) -> None:
    argv = ["build", str(app), "-t", "My Image", "-o", str(tmp_path / "x.tar")]
    fails(capsys, argv, UsageError.exit_code, "invalid image reference 'My Image'")


def test_no_tag(capsys: pytest.CaptureFixture[str], app: Path, tmp_path: Path) -> None:
    argv = ["build", str(app), "-o", str(tmp_path / "x.tar")]
    fails(capsys, argv, UsageError.exit_code, "give the image reference with -t NAME[:TAG]")


def test_output_below_a_file(capsys: pytest.CaptureFixture[str], app: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    argv = ["build", str(app), "-t", "x", "-o", str(tmp_path / "file" / "sub" / "x.tar")]
    fails(capsys, argv, ImageWriteError.exit_code, "is not a directory")


def test_output_that_is_a_directory(
    capsys: pytest.CaptureFixture[str], app: Path, tmp_path: Path
) -> None:
    argv = ["build", str(app), "-t", "x", "-o", str(tmp_path)]
    fails(capsys, argv, UsageError.exit_code, "is a directory; give a file name")


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str], app: Path) -> None:
    # No -o: the tarball would be ./x.tar, in the directory `fails` checks.
    argv = ["build", str(app), "-t", "x", "--no-such-option"]
    message = fails(capsys, argv, UsageError.exit_code, "No such option")
    assert message.endswith("(see pybin2img --help)")


def test_unknown_config_key_suggests_the_right_one(
    capsys: pytest.CaptureFixture[str], app: Path, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pybin2img]\ntga = "x"\n')
    argv = ["build", str(app), "-o", str(tmp_path / "x.tar")]
    fails(capsys, argv, ConfigError.exit_code, "did you mean 'tag'?")


@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        (["--workdir", "app"], "--workdir 'app' must be an absolute path"),
        (["--env", "NOVALUE"], "--env 'NOVALUE' must be KEY=VALUE"),
        (["--label", "=x"], "--label '=x' must be KEY=VALUE"),
        (["--annotation", "x"], "--annotation 'x' must be KEY=VALUE"),
        (["--port", "70000"], "port '70000' must be NUMBER[/tcp|udp|sctp]"),
        (["--port", "80/http"], "port '80/http' must be NUMBER[/tcp|udp|sctp]"),
        (["--base", "nothing.tar"], "--base 'nothing.tar' is neither scratch, distroless nor"),
        (["--mount-from", "other/repo"], "registry options (--username, --mount-from, …) need"),
        (["--push", "--username", "ann"], "--username and --password-stdin go together"),
    ],
)
def test_bad_build_option(
    capsys: pytest.CaptureFixture[str], app: Path, flags: list[str], pattern: str
) -> None:
    fails(capsys, ["build", str(app), "-t", "x", *flags], UsageError.exit_code, pattern)


def test_source_date_epoch_that_is_not_a_number(
    capsys: pytest.CaptureFixture[str], app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    argv = ["build", str(app), "-t", "x"]
    fails(capsys, argv, UsageError.exit_code, "SOURCE_DATE_EPOCH='yesterday' is not a whole")


def test_inspect_of_a_missing_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fails(capsys, ["inspect", str(tmp_path / "nope.tar")], UsageError.exit_code, "does not exist")


def test_push_to_an_invalid_reference(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tarball = tmp_path / "image"  # not *.tar*: `fails` checks that no tarball appeared
    tarball.write_bytes(b"")
    argv = ["push", str(tarball), "Bad Ref"]
    fails(capsys, argv, UsageError.exit_code, "invalid image reference 'Bad Ref'")


def test_deps_of_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fails(capsys, ["deps", str(tmp_path / "nope")], UsageError.exit_code, "is not a file")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0
    assert (out, err) == (f"pybin2img, version {__version__}\n", "")


def test_release_command_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    image = tmp_path / "a.tar"
    write_test_image(image, [{"etc/a": b"a"}])
    fails(capsys, ["index", str(image), "-t", "x:1"], 2, "nothing to do: give -o FILE, --push")
    fails(
        capsys,
        ["index", str(image), "-t", "x:1", "-o", "x.tar", "--sign-key", "k"],
        2,
        "need --push",
    )
    fails(capsys, ["index", str(image), str(image), "-t", "x:1", "-o", "x.tar"], 2, "both linux")
    assert not (tmp_path / "x.tar").exists()
    main_ok = ["generate-key", str(tmp_path / "k")]
    with pytest.raises(SystemExit) as exit_info:
        main(main_ok)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"{tmp_path / 'k.pub'}\n"
    fails(capsys, main_ok, 2, "k.key already exists")
    fails(capsys, ["sign", "reg.example/app@sha256:12", "--key", "k.key"], 2, "sha256:<64 hex>")
    app = tmp_path / "app.py"
    app.write_text("print(1)\n")
    fails(capsys, ["build", str(app), "-t", "x", "--sign-key", "k.key"], 2, "need --push")
