"""Modules an app names in strings, which Nuitka cannot follow: what the probe found, and the
Nuitka arguments that put them in the compiled program.

Frameworks import by name at run time: Django its settings module, INSTALLED_APPS, middleware,
database engine and URL module; uvicorn and gunicorn ``"module:app"``; Celery its task modules;
logging's ``dictConfig`` its handler classes. The probe reads the app's own files (the main
script and every module of the app's it imports or names, never installed packages), and keeps
each string that names a module found from the app's directory or the build environment:
``pkg.mod``, ``pkg.mod:attr``, ``pkg.mod.Class``, or a bare name of one of the app's own modules.
Nothing is imported to find them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CompileError


@dataclass(frozen=True, kw_only=True)
class NamedModule:
    module: str
    #: Where the string is: ``file, line N``.
    where: str


@dataclass(frozen=True, kw_only=True)
class NamedModules:
    modules: tuple[NamedModule, ...] = ()
    #: The Django settings module (``DJANGO_SETTINGS_MODULE``), when the app uses Django.
    django_settings: str | None = None
    #: Modules and packages of the Django apps in INSTALLED_APPS that Django imports by name
    #: or finds by listing a directory (migrations, template tags, management commands).
    django_modules: tuple[str, ...] = ()
    django_packages: tuple[str, ...] = ()
    #: ``(host directory, dist-relative directory)`` of the apps' templates and static files.
    django_data: tuple[tuple[str, str], ...] = ()
    #: How many of the app's files were read.
    scanned: int = 0
    #: Why reading them stopped early, if it did (the compile goes on without the strings).
    error: str | None = None

    @classmethod
    def from_probe(cls, named: Mapping[str, Any] | None) -> NamedModules:
        """From the probe's ``named`` record; raise :class:`CompileError` when the app uses
        Django and its settings cannot be known at build time."""
        if not named:
            return cls()
        django = named.get("django") or {}
        if django.get("error"):
            raise CompileError(django["error"])
        return cls(
            modules=tuple(
                NamedModule(
                    module=m["module"],
                    where=f"{m['file']}, line {m['line']}" if m["line"] else m["file"],
                )
                for m in named.get("modules", ())
            ),
            django_settings=django.get("settings"),
            django_modules=tuple(sorted(set(django.get("modules", ())))),
            django_packages=tuple(sorted(set(django.get("packages", ())))),
            django_data=tuple(sorted({(src, dest) for src, dest in django.get("data", ())})),
            scanned=int(named.get("scanned", 0)),
            error=named.get("error"),
        )

    def nuitka_args(self) -> tuple[str, ...]:
        """Arguments that make Nuitka compile in what the strings name."""
        args = [f"--include-module={m}" for m in sorted({n.module for n in self.modules})]
        args += [f"--include-module={m}" for m in self.django_modules]
        args += [f"--include-package={p}" for p in self.django_packages]
        args += [f"--include-data-dir={src}={dest}" for src, dest in self.django_data]
        if self.django_settings:
            args.append(f"--module-parameter=django-settings-module={self.django_settings}")
        return tuple(args)

    def cache_key(self) -> tuple[str, ...]:
        """:meth:`nuitka_args` without host paths (the files themselves are hashed as the
        dist's sources), so that a dist is found again from another cache directory."""
        return tuple(
            arg.rpartition("=")[2] if arg.startswith("--include-data-dir=") else arg
            for arg in self.nuitka_args()
        )

    def describe(self) -> list[str]:
        """One line per thing added, for ``-v``."""
        lines = [f"named in a string: {n.module} ({n.where})" for n in self.modules]
        if self.django_settings:
            lines.append(f"Django settings module: {self.django_settings}")
        lines += [f"Django app module: {m}" for m in self.django_modules]
        lines += [f"Django app package: {p}" for p in self.django_packages]
        lines += [f"Django app files: {dest}" for _, dest in self.django_data]
        return lines

    def as_metadata(self) -> dict[str, Any]:
        return {
            "modules": [{"module": n.module, "where": n.where} for n in self.modules],
            "django": {
                "settings": self.django_settings,
                "modules": list(self.django_modules),
                "packages": list(self.django_packages),
                "data": [dest for _, dest in self.django_data],
            }
            if self.django_settings or self.django_modules or self.django_packages
            else None,
        }
