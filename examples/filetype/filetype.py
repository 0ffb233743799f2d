"""Name the type of three byte strings with libmagic, loaded at run time through ctypes.

No ELF closure sees libmagic (only dlopen loads it) nor its database (/usr/share/misc/magic.mgc),
and the library's name is known only when the app runs (MAGIC_LIBRARY, else "magic"): a name
given literally would be found before the build; this one only `pybin2img build --trace` finds.
"""

import ctypes
import ctypes.util
import os

name = ctypes.util.find_library(os.environ.get("MAGIC_LIBRARY", "magic"))
if name is None:
    raise SystemExit("failed to find libmagic")
lib = ctypes.CDLL(name)
lib.magic_open.restype = ctypes.c_void_p
lib.magic_open.argtypes = [ctypes.c_int]
lib.magic_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.magic_buffer.restype = ctypes.c_char_p
lib.magic_buffer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
cookie = lib.magic_open(0x10)  # MAGIC_MIME_TYPE
if lib.magic_load(cookie, None) != 0:
    raise SystemExit("cannot load the magic database")
for sample in (b"\x1f\x8b\x08\x00" + b"\0" * 16, b"%PDF-1.4\n", b"hello world\n"):
    print(lib.magic_buffer(cookie, sample, len(sample)).decode())
