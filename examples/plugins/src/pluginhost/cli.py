"""plugin-host: prints its own version and metadata, then what its plugins do."""

from __future__ import annotations

import sys
from importlib import metadata

from . import checks


def main() -> int:
    dist = metadata.distribution("plugin-host")
    print(f"plugin-host {metadata.version('plugin-host')}: {dist.metadata['Summary']}")
    print("requires:", ", ".join(dist.requires or ()))
    for plugin in sorted(metadata.entry_points(group="pluginhost.greeters"), key=lambda e: e.name):
        # dist: the distribution that declares the plugin, as entry_points() gives it
        print(f"greeter {plugin.name} from {plugin.dist.name}: {plugin.load()('plugins')}")
    for line in checks.run():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
