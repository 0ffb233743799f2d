"""Reads its own data file and finds its styles through entry points."""

from importlib import metadata, resources


def greet(name: str) -> str:
    template = resources.files(__name__).joinpath("greeting.txt").read_text().strip()
    styles = {ep.name: ep.load() for ep in metadata.entry_points(group="greeter.styles")}
    lines = [f"greeter {metadata.version('greeter')}"]
    lines += [f"{style}: {styles[style](template.format(name))}" for style in sorted(styles)]
    return "\n".join(lines)
