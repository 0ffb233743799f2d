"""CPU-bound pure-Python kernels in the style of pyperformance, for bench/startup.py.

Runs each kernel a fixed amount and prints one JSON line: the CPU seconds each took (the
process's, best of ``--repeat`` rounds: other work on a shared machine skews wall-clock time)
and a checksum of its result, which must be the same wherever the app runs (compiled, under
CPython, frozen by PyInstaller).

    kernels.py [--repeat N] [--only nbody,fannkuch,...]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable


def nbody(steps: int = 60_000) -> float:
    """pyperformance's bm_nbody: the Jovian planets, floats in lists, pairs in tuples."""
    pi = 3.14159265358979323
    solar_mass = 4 * pi * pi
    days = 365.24
    bodies = {
        "sun": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], solar_mass),
        "jupiter": (
            [4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
            [1.66007664274403694e-03 * days, 7.69901118419740425e-03 * days,
             -6.90460016972063023e-05 * days],
            9.54791938424326609e-04 * solar_mass,
        ),
        "saturn": (
            [8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
            [-2.76742510726862411e-03 * days, 4.99852801234917238e-03 * days,
             2.30417297573763929e-05 * days],
            2.85885980666130812e-04 * solar_mass,
        ),
        "uranus": (
            [1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
            [2.96460137564761618e-03 * days, 2.37847173959480950e-03 * days,
             -2.96589568540237556e-05 * days],
            4.36624404335156298e-05 * solar_mass,
        ),
        "neptune": (
            [1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
            [2.68067772490389322e-03 * days, 1.62824170038242295e-03 * days,
             -9.51592254519715870e-05 * days],
            5.15138902046611451e-05 * solar_mass,
        ),
    }  # fmt: skip
    system = list(bodies.values())
    pairs = [(system[i], system[j]) for i in range(len(system)) for j in range(i + 1, len(system))]
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = 0.01 * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m, b2m = m1 * mag, m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for r, [vx, vy, vz], _m in system:
            r[0] += 0.01 * vx
            r[1] += 0.01 * vy
            r[2] += 0.01 * vz
    return round(sum(r[0] + r[1] + r[2] for r, _v, _m in system), 9)


def fannkuch(n: int = 9) -> int:
    """pyperformance's bm_fannkuch: permutations and list reversals."""
    count = list(range(1, n + 1))
    max_flips = 0
    m = n - 1
    r = n
    check = 0
    perm1 = list(range(n))
    perm = list(range(n))
    while True:
        if check < 30:
            check += 1
        while r != 1:
            count[r - 1] = r
            r -= 1
        if perm1[0] != 0 and perm1[m] != m:
            perm = perm1[:]
            flips = 0
            k = perm[0]
            while k:
                perm[: k + 1] = perm[k::-1]
                flips += 1
                k = perm[0]
            max_flips = max(max_flips, flips)
        while r != n:
            perm1.insert(r, perm1.pop(0))
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        else:
            return max_flips


def spectral_norm(n: int = 160) -> float:
    """pyperformance's bm_spectral_norm: function calls and float arithmetic."""

    def a(i: int, j: int) -> float:
        return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

    def times(v: list[float]) -> list[float]:
        return [sum(a(i, j) * vj for j, vj in enumerate(v)) for i in range(n)]

    def times_transposed(v: list[float]) -> list[float]:
        return [sum(a(j, i) * vj for j, vj in enumerate(v)) for i in range(n)]

    u = [1.0] * n
    for _ in range(10):
        v = times_transposed(times(u))
        u = times_transposed(times(v))
    vbv = sum(x * y for x, y in zip(u, v, strict=True))
    vv = sum(x * x for x in v)
    return round((vbv / vv) ** 0.5, 9)


class _Task:
    """A tiny object model in the style of bm_richards: attribute access and method calls."""

    __slots__ = ("count", "name", "next", "priority")

    def __init__(self, name: int, priority: int, following: _Task | None) -> None:
        self.name = name
        self.priority = priority
        self.count = 0
        self.next = following

    def run(self, work: int) -> int:
        self.count += 1
        return (work * 31 + self.priority) % 1_000_003


def objects(rounds: int = 40_000) -> int:
    """Linked objects, a scheduler loop, dict lookups: what business code does."""
    head = None
    for i in range(50):
        head = _Task(i, i % 7, head)
    by_name: dict[int, _Task] = {}
    task = head
    while task is not None:
        by_name[task.name] = task
        task = task.next
    work = 1
    for _ in range(rounds):
        task = head
        while task is not None:
            if task.priority % 2 == work % 2:
                work = task.run(work)
            task = task.next
        work = by_name[work % 50].run(work)
    return work


def strings(rounds: int = 3_000) -> int:
    """String building, splitting, formatting and dicts: parsing-like work."""
    total = 0
    for i in range(rounds):
        line = ",".join(f"{key}={i * key:x}" for key in range(40))
        fields = dict(part.split("=", 1) for part in line.split(","))
        total += sum(int(value, 16) for value in fields.values()) % 1_000_007
        total += len(line.upper().replace("=", "").strip())
    return total


KERNELS: dict[str, Callable[[], object]] = {
    "nbody": nbody,
    "fannkuch": fannkuch,
    "spectral_norm": spectral_norm,
    "objects": objects,
    "strings": strings,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU-bound pure-Python kernels")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(KERNELS))
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    checksums: dict[str, object] = {}
    for name in args.only.split(","):
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            checksums[name] = KERNELS[name]()
            best = min(best, time.process_time() - start)
        seconds[name] = round(best, 4)
    print(json.dumps({"seconds": seconds, "checksums": checksums}, sort_keys=True))


if __name__ == "__main__":
    main()
