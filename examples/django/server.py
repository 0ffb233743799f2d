"""A Django project: settings module, an app with a model, a template and the admin.

    server.py check   migrate a fresh SQLite database in /tmp, create a user, then request
                      pages through Django's test client and print what they returned (JSON)
    server.py serve   serve the project on $PORT (default 8080) with wsgiref

Django names nearly everything in strings (the settings module, INSTALLED_APPS, middleware,
the database engine, ROOT_URLCONF): nothing here imports them by name, Django does at start.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")


def check() -> None:
    import django
    from django.contrib.staticfiles import finders
    from django.core.management import call_command
    from django.test import Client

    django.setup()
    from django.conf import settings

    if os.path.exists(settings.DATABASES["default"]["NAME"]):
        os.remove(settings.DATABASES["default"]["NAME"])
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth.models import User
    from shop.models import Product

    User.objects.create_superuser("admin", "admin@example.com", "correct horse")
    Product.objects.create(name="teapot", price_cents=1250)
    client = Client()
    index = client.get("/")
    login = client.get("/admin/login/")
    client.login(username="admin", password="correct horse")  # noqa: S106 - a demo account
    admin_page = client.get("/admin/shop/product/")
    print(
        json.dumps(
            {
                "django": django.get_version(),
                "index": [index.status_code, index.content.decode()],
                "admin_login": [login.status_code, b"Django administration" in login.content],
                "admin_products": [admin_page.status_code, b"teapot" in admin_page.content],
                "static": bool(finders.find("admin/css/base.css")),
                "users": User.objects.count(),
            },
            sort_keys=True,
        )
    )


def serve() -> None:
    from wsgiref.simple_server import make_server

    from django.core.wsgi import get_wsgi_application

    port = int(os.environ.get("PORT", "8080"))
    print(f"django: listening on port {port}", flush=True)
    make_server("0.0.0.0", port, get_wsgi_application()).serve_forever()  # noqa: S104


if __name__ == "__main__":
    {"check": check, "serve": serve}[sys.argv[1] if len(sys.argv) > 1 else "check"]()
