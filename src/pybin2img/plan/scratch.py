"""The base layer, generated locally (nothing is pulled): users, /tmp, name service files,
CA certificates, time zones, os-release.

``scratch`` holds what a glibc program needs in an empty image; ``distroless`` adds what
Google's distroless ``static`` image has, for users who expect that layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..options import NONROOT_UID
from ..settings import BASES
from .rootfs import RootfsBuilder

#: Where the CA bundle lives in every image, and what ``SSL_CERT_FILE`` points at.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ZONEINFO = "/usr/share/zoneinfo"
#: The image's local time zone, where it has the zones: a link to :data:`LOCALTIME_ZONE`.
LOCALTIME = "/etc/localtime"
LOCALTIME_ZONE = "Etc/UTC"
#: The local zone by name, as Debian writes it.
TIMEZONE = "/etc/timezone"

PASSWD = f"""\
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin
"""

GROUP = f"""\
root:x:0:
tty:x:5:
staff:x:50:
nonroot:x:{NONROOT_UID}:
nobody:x:65534:
"""

# glibc >= 2.34 has the files and dns services built in; nothing here needs another module.
NSSWITCH = """\
passwd:         files
group:          files
shadow:         files
gshadow:        files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
"""


@dataclass(frozen=True, kw_only=True)
class BaseSpec:
    """What the base layer holds, decided from the options and the app's closure."""

    name: str
    #: Host CA bundle to install at :data:`CA_BUNDLE`, or ``None`` for no certificates.
    ca_bundle: str | None
    #: The bundled OpenSSL's ``OPENSSLDIR`` (``/usr/lib/ssl``): its ``cert.pem`` and ``certs``
    #: are pointed at the bundle.
    openssl_dir: str | None
    #: Host zoneinfo directory to install at :data:`ZONEINFO`, or ``None``.
    zoneinfo: str | None
    #: ``(image path, host path)`` of the name-service files to copy (``etc/services``…).
    etc_files: tuple[tuple[str, str], ...] = ()
    #: The host's ``os-release`` text, which the distroless base's own is made from.
    os_release: str = ""


def add_base(builder: RootfsBuilder, spec: BaseSpec) -> None:
    """Add the base files to the builder's current layer."""
    if spec.name not in BASES:
        # The options allow only these names; any other --base is an image tarball's path.
        raise ValueError(f"unknown base {spec.name!r}; expected one of {', '.join(BASES)}")
    builder.add_dir("etc")
    builder.add_dir("tmp", mode=0o1777)
    builder.add_dir("home")
    builder.add_dir("home/nonroot", mode=0o700, uid=NONROOT_UID, gid=NONROOT_UID)
    builder.add_data("etc/passwd", PASSWD.encode())
    builder.add_data("etc/group", GROUP.encode())
    builder.add_data("etc/nsswitch.conf", NSSWITCH.encode())
    for path, host in spec.etc_files:
        builder.add_file(path, host, mode=0o644)

    if spec.ca_bundle:
        builder.add_file(CA_BUNDLE.lstrip("/"), spec.ca_bundle, mode=0o644)
        if spec.openssl_dir:
            ssl_dir = spec.openssl_dir.strip("/")
            cert_dir = os.path.dirname(CA_BUNDLE).lstrip("/")
            if ssl_dir != cert_dir:
                builder.add_symlink(f"{ssl_dir}/cert.pem", CA_BUNDLE)
                builder.add_symlink(f"{ssl_dir}/certs", "/" + cert_dir)

    if spec.zoneinfo:
        # right/ holds leap-second variants no program asks for by default.
        builder.add_tree(spec.zoneinfo, ZONEINFO.lstrip("/"), skip=("right",))
        if os.path.isfile(os.path.join(spec.zoneinfo, LOCALTIME_ZONE)):
            # The local zone of Debian's images (and so of the slim-Python ones): UTC, by
            # name, so that what reads the link (tzlocal, pendulum) names it as there; and
            # /etc/timezone, which Debian's tzlocal reads first ("Etc/UTC", where the link
            # alone made it "UTC").
            builder.add_symlink(LOCALTIME.lstrip("/"), f"{ZONEINFO}/{LOCALTIME_ZONE}")
            builder.add_data(TIMEZONE.lstrip("/"), f"{LOCALTIME_ZONE}\n".encode(), mode=0o644)

    if spec.name == "distroless":
        builder.add_dir("root", mode=0o700)
        builder.add_dir("var")
        builder.add_dir("var/tmp", mode=0o1777)
        builder.add_data("usr/lib/os-release", os_release(spec.os_release).encode(), mode=0o444)
        builder.add_symlink("etc/os-release", "../usr/lib/os-release")


def os_release(host: str) -> str:
    """An os-release naming the distribution the system libraries were copied from, made from
    the host's (its text, empty when it has none)."""
    fields: dict[str, str] = {}
    for line in host.split("\n"):
        key, sep, value = line.strip().partition("=")
        if sep and key:
            fields[key] = value.strip().strip('"')
    name = fields.get("NAME", "Linux")
    version = fields.get("VERSION", fields.get("VERSION_ID", ""))
    lines = {
        "PRETTY_NAME": f"Distroless (pybin2img, libraries from {name} {version})".replace(
            " )", ")"
        ),
        "NAME": name,
        "ID": fields.get("ID", "linux"),
        "VERSION_ID": fields.get("VERSION_ID", ""),
        "VERSION": version,
        "VERSION_CODENAME": fields.get("VERSION_CODENAME", ""),
        "HOME_URL": fields.get("HOME_URL", ""),
    }
    return "".join(f'{k}="{v}"\n' for k, v in lines.items() if v)
