"""Daemon threads still running Python code when the main thread exits.

At interpreter exit CPython stops daemon threads with pthread_exit, for which glibc dlopens
libgcc_s.so.1; without it the process aborts ("libgcc_s.so.1 must be installed for
pthread_exit to work").
"""

from __future__ import annotations

import sys
import threading
import time

counts = [0] * 4


def work(index: int) -> None:
    while True:
        counts[index] += sum(range(100))
        time.sleep(0.001)


def main() -> int:
    for index in range(len(counts)):
        threading.Thread(target=work, args=(index,), daemon=True).start()
    time.sleep(0.3)
    busy = sum(1 for c in counts if c > 0)
    print(f"{busy} daemon threads busy; main thread exits now")
    return 0


if __name__ == "__main__":
    sys.exit(main())
