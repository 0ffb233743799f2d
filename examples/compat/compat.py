"""The compatibility suite: most-installed PyPI packages, each doing something real offline.

    compat.py              lists the packages (and imports none of them)
    compat.py NAME...      runs those packages' checks, one line each
    compat.py all          runs every check

The checks are in basics.py (HTTP, encodings, formats, dates, CLIs, templates, tools),
services.py (crypto, validation, RPC, async HTTP, a cloud SDK, databases, migrations) and
science.py (numbers, images, documents); harness.py runs them. requirements.txt pins them all.
"""

import basics  # noqa: F401 - each module registers its checks
import science  # noqa: F401
import services  # noqa: F401
from harness import main

if __name__ == "__main__":
    raise SystemExit(main())
