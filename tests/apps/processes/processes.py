"""Process pools under the default start method and each other one: multiprocessing starts the
program again as its workers (fork was Linux's default until 3.13, forkserver is from 3.14,
spawn is the only one on macOS and Windows). tests/integration/test_runtime.py compares the
image with the interpreter."""

import concurrent.futures
import multiprocessing


def square(x: int) -> int:
    return x * x


if __name__ == "__main__":
    print("default", multiprocessing.get_start_method())
    with concurrent.futures.ProcessPoolExecutor(2) as executor:
        print("executor", list(executor.map(square, range(5))))
    for method in ("spawn", "forkserver", "fork"):
        with multiprocessing.get_context(method).Pool(2) as pool:
            print(method, pool.map(square, range(4)))
