"""tests/apps/gi/services.py, then Gtk where there is one: on a server there is no Gtk typelib,
and the app goes on without it, as libraries that look for a desktop do."""

import gi
import services  # noqa: F401 - what it prints

try:
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk
except (ImportError, ValueError) as e:
    Gtk = None
    print("no Gtk:", type(e).__name__)
else:
    print("Gtk", Gtk.get_major_version())
