"""numpy in a scratch image: its bundled OpenBLAS (found through $ORIGIN) does the algebra."""

from __future__ import annotations

import sys

import numpy as np


def main() -> int:
    a = np.arange(1.0, 10.0).reshape(3, 3) + 2 * np.eye(3)
    inverse = np.linalg.inv(a)
    print("numpy", np.__version__)
    print("a @ a =", (a @ a).tolist())
    print("inv(a) =", np.round(inverse, 6).tolist())
    print("a @ inv(a) is identity:", bool(np.allclose(a @ inverse, np.eye(3))))
    big = np.random.default_rng(7).standard_normal((300, 300))
    print("det(big @ big.T) > 0:", bool(np.linalg.det(big @ big.T) > 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
