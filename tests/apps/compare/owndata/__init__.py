"""The app's own package, with a data file of its own (data/greeting.txt)."""

import os
import pkgutil
from importlib import resources


def read() -> list[str]:
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "data", "greeting.txt"), encoding="utf-8") as f:
        beside = f.read().strip()
    return [
        f"file: {beside}",
        f"listed: {sorted(os.listdir(os.path.join(here, 'data')))}",
        f"resources: {resources.files(__name__).joinpath('data/greeting.txt').read_text().strip()}",
        f"get_data: {pkgutil.get_data(__name__, 'data/greeting.txt').decode().strip()}",
    ]
