"""GObject introspection as a service uses it, through Debian's python3-gi: a GObject class
with a property and a signal, GLib variants and its main loop, Gio streams and files."""

import gi

gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib, GObject  # noqa: E402


class Counter(GObject.Object):
    count = GObject.Property(type=int, default=0)
    __gsignals__ = {  # noqa: RUF012 - PyGObject reads it as the class defines it
        "bumped": (GObject.SignalFlags.RUN_FIRST, None, (int,))
    }

    def bump(self) -> None:
        self.count += 1
        self.emit("bumped", self.count)


seen: list[int] = []
counter = Counter()
counter.connect("bumped", lambda _counter, n: seen.append(n))
counter.bump()
counter.bump()
print("signals", seen, "property", counter.props.count)
print("variant", GLib.Variant("(si)", ("answer", 42)).print_(True))
print("escaped", GLib.markup_escape_text("<a & b>"))
stream = Gio.DataInputStream.new(Gio.MemoryInputStream.new_from_data(b"one\ntwo\n"))
print("stream", stream.read_line_utf8(None)[0])
print("file", Gio.File.new_for_path("/srv/reports/2026.csv").get_basename())
loop = GLib.MainLoop()
GLib.timeout_add(10, loop.quit)
loop.run()
print("main loop ran")
