"""The plan stage on a small dist and a fake build machine, both in tmp_path.

Nothing here reads the real host: the closure is synthetic, the host's CA bundle, time zones,
locale and /etc files are :class:`HostFacts` pointing into tmp_path, and no file needs to be
a real ELF file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pybin2img.dpkg import DebianPackage, Distro, SystemPackages
from pybin2img.errors import HostError
from pybin2img.oci.baseimage import BaseImage, TreeEntry
from pybin2img.oci.layer import Entry, Kind, Layer
from pybin2img.plan import host as host_module
from pybin2img.plan.host import HOST_ZONEINFO, HostFacts, find_openssl_dir, find_tini
from pybin2img.plan.owners import claim_files
from pybin2img.plan.packages import SBOM_PATH, add_records, add_sbom
from pybin2img.plan.planner import ImagePlan, plan_image, searched_library_path
from pybin2img.plan.scratch import CA_BUNDLE, os_release
from pybin2img.resolve.closure import Closure, LoadedObject
from tests.unit.elfgen import make_elf

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


class Machine:
    """A dist and a build machine's files under one temporary directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.dist = tmp / "dist"
        self.host = tmp / "host"
        self.dist.mkdir()
        self.host.mkdir()
        self.binary = self.file("dist/main.bin", b"binary", mode=0o755)
        self.libs: list[str] = []

    def file(self, rel: str, data: bytes = b"x", *, mode: int = 0o644) -> Path:
        path = self.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def link(self, rel: str, target: str) -> Path:
        path = self.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
        return path

    def system_library(self, name: str) -> str:
        """A library on the "host": ``name`` is a link to a versioned file."""
        self.file(f"host/lib/{name}.0.1", b"lib")
        self.libs.append(str(self.link(f"host/lib/{name}", f"{name}.0.1")))
        return self.libs[-1]

    def closure(self, libc: str | None = "glibc") -> Closure:
        def loaded(path: str, reason: str) -> LoadedObject:
            source = os.path.realpath(path)
            return LoadedObject(
                path=path,
                realpath=source,
                source=source,
                soname=None,
                needed=(),
                reason=reason,
                needed_by=None,
            )

        root = str(self.binary)
        return Closure(
            roots=(root,),
            interpreter=None,
            machine="EM_X86_64",
            objects=(loaded(root, "root"), *(loaded(lib, "needed") for lib in self.libs)),
            edges=(),
            conflicts=(),
            libc=libc,
            glibc_version=(2, 36) if libc == "glibc" else None,
            default_dirs=(),
        )

    def facts(self, **changes: Any) -> HostFacts:
        """A host with a CA bundle, time zones, a UTF-8 locale and /etc/services."""
        bundle = self.file("host/etc/ssl/certs/ca-certificates.crt", b"-----BEGIN CERTIFICATE")
        self.file("host/zoneinfo/UTC", b"TZif")
        self.file("host/zoneinfo/Etc/UTC", b"TZif")
        self.file("host/zoneinfo/Europe/Paris", b"TZif")
        self.file("host/zoneinfo/right/UTC", b"TZif")
        self.file("host/locale/C.utf8/LC_CTYPE", b"ctype")
        services = self.file("host/etc/services", b"http 80/tcp\n")
        facts: dict[str, Any] = {
            "ca_bundle": str(bundle),
            "zoneinfo": str(self.host / "zoneinfo"),
            "utf8_locale": str(self.host / "locale/C.utf8"),
            "etc_files": (("etc/services", str(services)),),
            "os_release": OS_RELEASE,
        }
        return HostFacts(**{**facts, **changes})

    def plan(self, host: HostFacts | None = None, **options: Any) -> ImagePlan:
        closure = options.pop("closure", None) or self.closure()
        return plan_image(
            base=options.pop("base", "scratch"),
            dist_dir=self.dist,
            roots=[self.binary],
            closure=closure,
            host=host or self.facts(),
            **options,
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def _layer(plan: ImagePlan, name: str) -> dict[str, Entry]:
    layer = next((layer for layer in plan.layers if layer.name == name), None)
    assert layer is not None, f"no layer {name}: {[x.name for x in plan.layers]}"
    return {entry.path: entry for entry in layer.entries}


def _image(host_path: Path | str) -> str:
    """The image path of a host file placed at the same path."""
    return str(host_path).lstrip("/")


def _files(layer: dict[str, Entry]) -> set[str]:
    return {path for path, entry in layer.items() if entry.kind is not Kind.DIR}


# --- layers ---------------------------------------------------------------------------------


def test_layers_from_the_least_to_the_most_often_changed(machine: Machine) -> None:
    libz = machine.system_library("libz.so.1")
    machine.file("dist/_ssl.so")
    machine.file("dist/certifi/cacert.pem")
    machine.file("dist/assets/logo.png")
    plan = machine.plan(app_paths=["assets/"])

    assert [layer.name for layer in plan.layers] == [
        "base",
        "system-libraries",
        "dependencies",
        "app",
    ]
    assert _files(_layer(plan, "dependencies")) == {"app/_ssl.so", "app/certifi/cacert.pem"}
    assert _files(_layer(plan, "app")) == {"app/main.bin", "app/assets/logo.png"}
    system = _layer(plan, "system-libraries")
    # The library's link is kept, the file it names is copied with its bytes from the host.
    assert system[_image(libz)].target == "libz.so.1.0.1"
    assert system[_image(libz) + ".0.1"].source == libz + ".0.1"
    assert plan.binary == "/app/main.bin"
    assert plan.roots == ("/app/main.bin",)
    assert plan.nodes["app/main.bin"].mode == 0o755
    assert plan.packages is None


def test_every_layer_lists_its_parent_directories(machine: Machine) -> None:
    machine.file("dist/pkg/sub/data.txt")
    plan = machine.plan()
    for layer in plan.layers:
        paths = {entry.path for entry in layer.entries}
        assert all(os.path.dirname(p) in paths for p in paths if "/" in p), layer.name
        assert [e.path.encode() for e in layer.entries] == sorted(
            e.path.encode() for e in layer.entries
        )


def test_files_for_building_or_testing_are_left_out(machine: Machine) -> None:
    machine.file("dist/numpy/core/include/numpy/ndarraytypes.h")
    machine.file("dist/numpy/core/lib/libnpymath.a")
    machine.file("dist/numpy/__init__.pyi")
    machine.file("dist/numpy/tests/test_basic.py")
    machine.file("dist/numpy/tests/data/matrix.npy")
    machine.file("dist/numpy/tests/_helper.cpython-311-x86_64-linux-gnu.so")
    machine.file("dist/numpy/core/_multiarray_umath.so")
    plan = machine.plan()
    assert _files(_layer(plan, "dependencies")) == {
        "app/numpy/core/_multiarray_umath.so",
        # An extension module in a test directory may still be imported.
        "app/numpy/tests/_helper.cpython-311-x86_64-linux-gnu.so",
    }


def test_app_files_are_never_build_only(machine: Machine) -> None:
    machine.file("dist/templates/page.h")
    plan = machine.plan(app_paths=["templates"])
    assert "app/templates/page.h" in _files(_layer(plan, "app"))


def test_symlinks_inside_the_dist_stay_links_others_are_copied(machine: Machine) -> None:
    data = machine.file("dist/pkg/data.json", b"{}")
    machine.link("dist/pkg/alias.json", "data.json")
    machine.link("dist/pkg/absolute.json", str(data))
    outside = machine.file("elsewhere/shared.txt", b"shared")
    machine.link("dist/pkg/shared.txt", "../../elsewhere/shared.txt")
    machine.link("dist/pkg/datadir", "../pkgdata")
    machine.file("dist/pkgdata/table.csv")
    plan = machine.plan()

    dependencies = _layer(plan, "dependencies")
    assert dependencies["app/pkg/alias.json"].kind is Kind.SYMLINK
    assert dependencies["app/pkg/alias.json"].target == "data.json"
    # A directory link is one entry; what it points to is in the dist anyway.
    assert dependencies["app/pkg/datadir"].target == "../pkgdata"
    assert "app/pkgdata/table.csv" in dependencies
    # An absolute link would point into the build machine: the bytes are copied instead.
    assert dependencies["app/pkg/absolute.json"].kind is Kind.FILE
    assert dependencies["app/pkg/absolute.json"].source == str(data)
    assert dependencies["app/pkg/shared.txt"].kind is Kind.FILE
    assert dependencies["app/pkg/shared.txt"].source == str(outside)


def test_host_files_are_what_the_build_machine_contributes(machine: Machine) -> None:
    libz = machine.system_library("libz.so.1")
    machine.file("dist/_ssl.so")
    host = machine.facts()
    plan = machine.plan(host, modules=frozenset({"ssl"}))
    assert plan.host_files == tuple(
        sorted(
            [
                libz + ".0.1",
                str(host.ca_bundle),
                dict(host.etc_files)["etc/services"],
                str(machine.host / "locale/C.utf8/LC_CTYPE"),
                str(machine.host / "zoneinfo/UTC"),
                str(machine.host / "zoneinfo/Etc/UTC"),
                str(machine.host / "zoneinfo/Europe/Paris"),
            ]
        )
    )


# --- base -----------------------------------------------------------------------------------


def test_scratch_base(machine: Machine) -> None:
    plan = machine.plan()
    base = _layer(plan, "base")
    assert b"nonroot:x:65532:65532" in (base["etc/passwd"].data or b"")
    assert (base["tmp"].mode, base["home/nonroot"].uid) == (0o1777, 65532)
    assert base["etc/services"].source == str(machine.host / "etc/services")
    assert "usr/lib/os-release" not in plan.nodes


def test_distroless_base_has_os_release_from_the_host(machine: Machine) -> None:
    plan = machine.plan(base="distroless")
    base = _layer(plan, "base")
    release = (base["usr/lib/os-release"].data or b"").decode()
    assert 'NAME="Debian GNU/Linux"' in release
    assert 'PRETTY_NAME="Distroless (pybin2img, libraries from Debian GNU/Linux)"' in release
    assert base["etc/os-release"].target == "../usr/lib/os-release"
    assert base["var/tmp"].mode == 0o1777


def test_os_release_without_one_on_the_host() -> None:
    assert os_release("") == 'PRETTY_NAME="Distroless (pybin2img, libraries from Linux)"\n' + (
        'NAME="Linux"\nID="linux"\n'
    )


def test_unknown_base_is_a_programming_error(machine: Machine) -> None:
    with pytest.raises(ValueError, match="unknown base 'alpine'"):
        machine.plan(base="alpine")


def _base_image(tmp: Path, tree: dict[str, TreeEntry]) -> BaseImage:
    rootfs = tmp / "base-rootfs"
    for path, item in tree.items():
        if item.kind == "file":
            (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
            (rootfs / path).write_bytes(b"base")
    return BaseImage(
        path=tmp / "base.tar",
        name="example.com/base:1",
        digest=None,
        layers=(),
        config={},
        rootfs=rootfs,
        tree=tree,
    )


def test_a_base_image_is_built_upon(machine: Machine) -> None:
    base_image = _base_image(
        machine.tmp,
        {
            "etc": TreeEntry("dir", "", 0o755, 0, 0),
            "etc/passwd": TreeEntry("file", "", 0o644, 0, 0),
            "tmp": TreeEntry("dir", "", 0o1777, 0, 0),
            "home": TreeEntry("dir", "", 0o755, 0, 0),
            "home/nonroot": TreeEntry("dir", "", 0o700, 65532, 65532),
            "data": TreeEntry("symlink", "srv/data", 0o777, 0, 0),
        },
    )
    machine.system_library("libz.so.1")
    plan = machine.plan(base_image=base_image)

    base = _layer(plan, "base")
    assert base["etc"].mode == 0o755  # a parent of new files, as the base image has it
    assert "etc/passwd" not in base  # the base image's own stays
    assert {"etc/group", "etc/nsswitch.conf"} <= base.keys()
    assert plan.layers[0].description == "base files (example.com/base:1)"
    # Everything the base image has is part of what the container sees…
    assert plan.nodes["etc/passwd"].source == str(base_image.rootfs / "etc/passwd")
    assert plan.nodes["data"].target == "srv/data"
    # …but is not asked about in the host's package database.
    assert str(base_image.rootfs / "etc/passwd") not in plan.host_files


# --- certificates, time zones, locale ------------------------------------------------------


@pytest.mark.parametrize(
    ("ca_certs", "modules", "base", "shipped"),
    [
        ("auto", {"ssl"}, "scratch", True),
        ("auto", set(), "scratch", False),
        ("auto", set(), "distroless", True),
        ("always", set(), "scratch", True),
        ("never", {"ssl"}, "distroless", False),
    ],
)
def test_ca_certificates(
    machine: Machine, ca_certs: str, modules: set[str], base: str, shipped: bool
) -> None:
    host = machine.facts()
    plan = machine.plan(host, ca_certs=ca_certs, modules=frozenset(modules), base=base)
    bundle = plan.nodes.get(CA_BUNDLE.lstrip("/"))
    assert (bundle is not None) is shipped
    assert (f"SSL_CERT_FILE={CA_BUNDLE}" in plan.env) is shipped
    if bundle is not None:
        assert (bundle.source, bundle.mode) == (host.ca_bundle, 0o644)


def test_an_openssl_in_the_closure_calls_for_certificates(machine: Machine) -> None:
    plan = machine.plan(machine.facts(openssl_dir="/usr/lib/ssl"))
    assert CA_BUNDLE.lstrip("/") in plan.nodes
    # OpenSSL's own default locations lead to the bundle.
    assert plan.nodes["usr/lib/ssl/cert.pem"].target == CA_BUNDLE
    assert plan.nodes["usr/lib/ssl/certs"].target == "/etc/ssl/certs"


@pytest.mark.parametrize("ca_certs", ["always", "auto"])
def test_certificates_the_host_does_not_have(machine: Machine, ca_certs: str) -> None:
    host = machine.facts(ca_bundle=None)
    with pytest.raises(HostError, match=r"no CA bundle was found .* --ca-certs never"):
        machine.plan(host, ca_certs=ca_certs, modules=frozenset({"ssl"}))
    plan = machine.plan(host, ca_certs="never", modules=frozenset({"ssl"}))
    assert CA_BUNDLE.lstrip("/") not in plan.nodes


@pytest.mark.parametrize(
    ("tzdata", "modules", "base", "shipped"),
    [
        ("auto", {"zoneinfo"}, "scratch", True),
        ("auto", set(), "scratch", True),  # a TZ the image is run with names a zone
        ("auto", set(), "distroless", True),
        ("always", set(), "scratch", True),
        ("never", {"zoneinfo"}, "distroless", False),
    ],
)
def test_time_zones(
    machine: Machine, tzdata: str, modules: set[str], base: str, shipped: bool
) -> None:
    plan = machine.plan(tzdata=tzdata, modules=frozenset(modules), base=base)
    assert ("usr/share/zoneinfo/Europe/Paris" in plan.nodes) is shipped
    assert "usr/share/zoneinfo/right/UTC" not in plan.nodes  # leap-second variants
    # the local zone is UTC by name, as in Debian's images, where the zones are
    localtime = plan.nodes.get("etc/localtime")
    assert (localtime is not None) is shipped
    if localtime is not None:
        assert localtime.target == "/usr/share/zoneinfo/Etc/UTC"
    # and by its name, which Debian's tzlocal reads first ("UTC" from the link alone)
    timezone = plan.nodes.get("etc/timezone")
    assert (timezone is not None) is shipped
    if timezone is not None:
        assert timezone.data == b"Etc/UTC\n"


def test_time_zones_the_host_does_not_have(machine: Machine) -> None:
    host = machine.facts(zoneinfo=None)
    with pytest.raises(HostError, match=r"time zone data .* --tzdata never"):
        machine.plan(host, tzdata="always")
    with pytest.raises(HostError, match=r"time zone data .* --tzdata never"):
        machine.plan(host, modules=frozenset({"zoneinfo"}))
    assert "usr/share/zoneinfo" not in machine.plan(host, tzdata="never").nodes
    assert not machine.plan(host, tzdata="never").warnings
    # Not needed by the app's code: the build goes on, and says what the image will do.
    assert machine.plan(host).warnings == (
        f"this machine has no {HOST_ZONEINFO}: a TZ the image is run with is ignored there "
        "(local time is UTC); install tzdata, or pass --tzdata never to say so",
    )


@pytest.mark.parametrize(("modules", "shipped"), [({"curses"}, True), ({"ssl"}, False)])
def test_terminal_descriptions_when_the_app_uses_curses(
    machine: Machine, modules: set[str], shipped: bool
) -> None:
    xterm = machine.file("host/terminfo/x/xterm", b"\x1a\x01")
    plan = machine.plan(machine.facts(terminfo=(str(xterm),)), modules=frozenset(modules))
    assert (_image(xterm) in plan.nodes) is shipped


def test_the_hosts_terminal_descriptions_once_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 12's /lib is /usr/lib: its /lib/terminfo is listed by the path ncurses opens,
    and not again by the other."""
    (tmp_path / "usr/lib/terminfo/x").mkdir(parents=True)
    (tmp_path / "usr/lib/terminfo/x/xterm").write_bytes(b"\x1a\x01")
    (tmp_path / "usr/lib/terminfo/x/xterm-debian").symlink_to("xterm")
    (tmp_path / "lib").symlink_to("usr/lib")
    monkeypatch.setattr(
        host_module,
        "HOST_TERMINFO",
        (
            str(tmp_path / "etc/terminfo"),
            str(tmp_path / "lib/terminfo"),
            str(tmp_path / "usr/lib/terminfo"),
        ),
    )
    assert host_module._terminfo_files() == (
        str(tmp_path / "lib/terminfo/x/xterm"),
        str(tmp_path / "lib/terminfo/x/xterm-debian"),
    )


@pytest.mark.parametrize(("libc", "shipped"), [("glibc", True), ("musl", False)])
def test_utf8_locale_for_glibc(machine: Machine, libc: str, shipped: bool) -> None:
    host = machine.facts()
    plan = machine.plan(host, closure=machine.closure(libc=libc))
    assert (_image(f"{host.utf8_locale}/LC_CTYPE") in plan.nodes) is shipped
    assert ("LANG=C.UTF-8" in plan.env) is shipped


def test_find_openssl_dir(tmp_path: Path) -> None:
    (tmp_path / "libz.so.1").write_bytes(b'OPENSSLDIR: "/not/this"')
    (tmp_path / "libcrypto.so.3").write_bytes(b'\0\0OPENSSLDIR: "/usr/lib/ssl"\0')
    paths = [str(tmp_path / "libz.so.1"), str(tmp_path / "missing/libcrypto.so.3")]
    assert find_openssl_dir(paths) is None
    assert find_openssl_dir([*paths, str(tmp_path / "libcrypto.so.3")]) == "/usr/lib/ssl"


# --- dpkg records and the SBOM --------------------------------------------------------------


def _packages(*files: str) -> SystemPackages:
    """zlib1g owning ``files`` (real files of the fake host), with their true md5sums."""
    package = DebianPackage(
        name="zlib1g",
        version="1:1.2.13.dfsg-1",
        architecture="amd64",
        source="zlib",
        status="install ok installed",
        files=tuple(files),
        recorded_files=tuple(files),
        paths=tuple((f, f) for f in files),
        md5sums=tuple(
            (f.lstrip("/"), hashlib.md5(Path(f).read_bytes(), usedforsecurity=False).hexdigest())
            for f in files
        ),
        control="Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n",
    )
    return SystemPackages(
        database="dpkg",
        distro=Distro(id="debian", version_id="12"),
        packages=(package,),
        unowned=(),
    )


def _names(layers: Sequence[Layer]) -> list[str]:
    return [layer.name for layer in layers]


def _recorded(plan: ImagePlan, packages: SystemPackages, host: HostFacts) -> ImagePlan:
    owners = claim_files(plan.nodes, dist_dir=None, packages=packages)
    return add_records(plan, packages, owners, host=host)


def test_records_go_with_the_system_libraries_and_the_sbom_on_top(machine: Machine) -> None:
    libz = os.path.realpath(machine.system_library("libz.so.1"))
    host = machine.facts()
    plan = machine.plan(host)
    recorded = add_sbom(_recorded(plan, _packages(libz), host), b'{"bomFormat": "CycloneDX"}')

    assert _names(recorded.layers) == [*_names(plan.layers), "sbom"]
    system = _layer(recorded, "system-libraries")
    control = (system["var/lib/dpkg/status.d/zlib1g"].data or b"").decode()
    assert control.startswith("Package: zlib1g\n")
    md5sums = (system["var/lib/dpkg/status.d/zlib1g.md5sums"].data or b"").decode()
    assert md5sums == f"{hashlib.md5(b'lib').hexdigest()}  {libz.lstrip('/')}\n"
    assert system["var/lib/dpkg"].kind is Kind.DIR
    assert 'ID="debian"' in (system["usr/lib/os-release"].data or b"").decode()
    assert system["etc/os-release"].target == "../usr/lib/os-release"
    sbom = _layer(recorded, "sbom")
    assert sbom[SBOM_PATH.lstrip("/")].data == b'{"bomFormat": "CycloneDX"}'
    assert recorded.nodes[SBOM_PATH.lstrip("/")] == sbom[SBOM_PATH.lstrip("/")]
    # The other layers and what the plan knew are unchanged.
    assert recorded.layers[0] == plan.layers[0]
    assert recorded.layers[2:-1] == plan.layers[2:]
    assert (recorded.binary, recorded.env, recorded.host_files) == (
        plan.binary,
        plan.env,
        plan.host_files,
    )
    assert recorded.packages == _packages(libz)


def test_a_package_owning_no_file_of_the_image_is_not_recorded(machine: Machine) -> None:
    libz = os.path.realpath(machine.system_library("libz.so.1"))
    host = machine.facts()
    plan = machine.plan(host)
    elsewhere = machine.file("host/lib/libz.so.9", b"not in the image")
    recorded = _recorded(plan, _packages(str(elsewhere)), host)
    assert "var/lib/dpkg/status.d/zlib1g" not in recorded.nodes
    assert recorded.packages is not None
    assert recorded.packages.packages == ()
    assert libz  # in the image, but owned by no package here


def test_records_keep_the_os_release_of_a_distroless_base(machine: Machine) -> None:
    libz = os.path.realpath(machine.system_library("libz.so.1"))
    host = machine.facts()
    plan = machine.plan(host, base="distroless")
    recorded = _recorded(plan, _packages(libz), host)
    system = _layer(recorded, "system-libraries")
    assert not {"usr/lib/os-release", "etc/os-release"} & system.keys()
    assert _names(recorded.layers) == _names(plan.layers)


def test_records_of_nothing_change_nothing(machine: Machine) -> None:
    machine.system_library("libz.so.1")
    host = machine.facts()
    plan = machine.plan(host)
    none = SystemPackages(database=None, distro=None, packages=(), unowned=plan.host_files)
    recorded = _recorded(plan, none, host)
    assert recorded.layers == plan.layers
    assert dict(recorded.nodes) == dict(plan.nodes)
    assert recorded.packages == none


def test_records_make_the_system_layer_when_no_library_was_copied(machine: Machine) -> None:
    # A static program: nothing but the base comes from the build machine.
    host = machine.facts()
    plan = machine.plan(host, closure=machine.closure(libc=None))
    assert _names(plan.layers) == ["base", "app"]
    services = dict(host.etc_files)["etc/services"]
    recorded = _recorded(plan, _packages(services), host)
    assert _names(recorded.layers) == ["base", "system-libraries", "app"]
    assert "var/lib/dpkg/status.d/zlib1g" in _layer(recorded, "system-libraries")


# --- the init and ldconfig ------------------------------------------------------------------


def test_tini_is_pid_1_in_front_of_the_binary(machine: Machine) -> None:
    tini = machine.file("host/usr/bin/tini-static", b"tini", mode=0o755)
    plan = machine.plan(machine.facts(tini=str(tini)), init="tini")
    assert plan.entrypoint == (str(tini), "-s", "--", plan.binary)
    assert _image(tini) in _layer(plan, "system-libraries")
    assert str(tini) in plan.host_files  # recorded in the SBOM and dpkg data like a library


def test_no_init_runs_the_binary_itself(machine: Machine) -> None:
    tini = machine.file("host/usr/bin/tini-static", b"tini", mode=0o755)
    plan = machine.plan(machine.facts(tini=str(tini)), init="none")
    assert plan.entrypoint == (plan.binary,)
    assert _image(tini) not in plan.nodes


def test_tini_missing_on_the_build_machine(machine: Machine) -> None:
    with pytest.raises(HostError, match=r"apt-get install tini\) or pass --init none"):
        machine.plan(machine.facts(tini=None), init="tini")


@pytest.mark.parametrize(
    ("ldconfig", "modules", "libc", "shipped"),
    [
        ("auto", {"ctypes", "ctypes.util"}, "glibc", True),
        ("auto", {"ctypes"}, "glibc", False),  # find_library lives in ctypes.util only
        ("auto", {"ctypes.util"}, "musl", False),  # musl has no ld.so.cache
        ("always", set(), "glibc", True),
        ("never", {"ctypes.util"}, "glibc", False),
    ],
)
def test_ldconfig_when_the_app_uses_find_library(
    machine: Machine, ldconfig: str, modules: set[str], libc: str, shipped: bool
) -> None:
    libz = machine.system_library("libz.so.1")
    program = machine.file("host/sbin/ldconfig", b"ldconfig", mode=0o755)
    plan = machine.plan(
        machine.facts(ldconfig=str(program)),
        closure=machine.closure(libc=libc),
        ldconfig=ldconfig,
        modules=frozenset(modules),
    )
    assert (_image(program) in _layer(plan, "system-libraries")) is shipped
    assert plan.library_dirs == ((os.path.dirname(libz),) if shipped else ())


def test_ldconfig_missing_on_the_build_machine(machine: Machine) -> None:
    auto = machine.plan(
        machine.facts(ldconfig=None), ldconfig="auto", modules=frozenset({"ctypes.util"})
    )
    assert auto.library_dirs == ()
    assert any("find_library will find nothing" in w for w in auto.warnings)
    with pytest.raises(HostError, match="pass --ldconfig never"):
        machine.plan(machine.facts(ldconfig=None), ldconfig="always")


# --- traced files (--trace) and added files (--add-file) -------------------------------------


def test_traced_files_go_to_the_system_layer_at_their_host_path(machine: Machine) -> None:
    machine.system_library("libmagic.so.1")
    database = machine.file("host/lib/file/magic.mgc", b"magic")
    link = machine.link("host/share/misc/magic.mgc", "../../lib/file/magic.mgc")
    plan = machine.plan(traced_files=(str(link),))

    system = _layer(plan, "system-libraries")
    # The link the app opened is kept, the file it names is copied with its bytes.
    assert system[_image(link)].kind is Kind.SYMLINK
    assert system[_image(link)].target == "../../lib/file/magic.mgc"
    assert system[_image(database)].source == str(database)
    # A host file like a library: dpkg records and the SBOM cover it.
    assert str(database) in plan.host_files


def test_traced_files_never_replace_what_is_already_there(machine: Machine) -> None:
    libz = machine.system_library("libz.so.1")
    config = machine.file("host/etc/magic", b"host's")
    base_image = _base_image(machine.tmp, {_image(config): TreeEntry("file", "", 0o644, 0, 0)})
    plan = machine.plan(base_image=base_image, traced_files=(str(config), libz))

    # The base image's own file wins over the build machine's…
    assert plan.nodes[_image(config)].source == str(base_image.rootfs / _image(config))
    assert str(config) not in plan.host_files
    # …and a traced library the closure already placed is there once.
    system = _layer(plan, "system-libraries")
    assert system[_image(libz) + ".0.1"].source == libz + ".0.1"
    assert sum(entry.source == libz + ".0.1" for entry in plan.nodes.values()) == 1


def test_added_files_at_their_path_at_dest_and_whole_directories(machine: Machine) -> None:
    same = machine.file("host/opt/tool/config.ini", b"[tool]")
    target = machine.file("host/share/real.dat", b"data")
    renamed = machine.link("host/share/alias.dat", "real.dat")
    tree = machine.file("host/share/models/small/weights.bin", b"w")
    machine.link("host/share/models/current", "small")
    plan = machine.plan(
        extra_files=(
            (str(same), str(same)),
            (str(renamed), "/srv/data.dat"),
            (str(machine.host / "share/models"), "/models"),
        )
    )

    system = _layer(plan, "system-libraries")
    assert system[_image(same)].source == str(same)
    # At another path the bytes are copied: the host's link means nothing there.
    assert system["srv/data.dat"].kind is Kind.FILE
    assert system["srv/data.dat"].source == str(target)
    assert system["models/small/weights.bin"].source == str(tree)
    assert system["models/current"].target == "small"  # links inside a directory stay links
    assert {str(same), str(target), str(tree)} <= set(plan.host_files)


def test_an_added_file_replaces_the_base_files(machine: Machine) -> None:
    services = machine.file("elsewhere/services", b"mine 1234/tcp\n")
    plan = machine.plan(extra_files=((str(services), "/etc/services"),))
    assert plan.nodes["etc/services"].source == str(services)
    assert plan.nodes["etc/services"].kind is Kind.FILE


LOADER = "/lib64/ld-linux-x86-64.so.2"


def test_the_dynamic_tini_is_taken_when_it_uses_the_apps_loader(tmp_path: Path) -> None:
    dynamic = make_elf(tmp_path / "tini", interp=LOADER, needed=["libc.so.6"])
    static = make_elf(tmp_path / "tini-static")
    for path in (dynamic, static):
        path.chmod(0o755)
    candidates = {"dynamic": [str(dynamic)], "static": [str(static)]}
    assert find_tini(LOADER, **candidates) == str(dynamic)
    # Another loader (a musl app, say): the static build runs anywhere.
    assert find_tini("/lib/ld-musl-x86_64.so.1", **candidates) == str(static)


def test_only_a_static_tini_on_the_machine(tmp_path: Path) -> None:
    static = make_elf(tmp_path / "tini-static")
    static.chmod(0o755)
    missing = str(tmp_path / "no-tini")
    assert find_tini(LOADER, dynamic=[missing], static=[str(static)]) == str(static)
    assert find_tini(LOADER, dynamic=[missing], static=[missing]) is None


def test_library_path_directories_that_gave_a_library_are_the_images_ld_library_path(
    machine: Machine,
) -> None:
    libz = machine.system_library("libz.so.1")
    lib_dir = os.path.dirname(libz)
    plan = machine.plan(library_path=["/nothing/from/here", lib_dir])
    assert f"LD_LIBRARY_PATH={lib_dir}" in plan.env
    assert searched_library_path(plan.env) == (lib_dir,)
    assert searched_library_path(machine.plan().env) == ()
