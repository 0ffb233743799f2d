"""The project's own plugins, found through its entry-point group pluginhost.greeters."""


def plain(name: str) -> str:
    return f"hello {name}"


def shout(name: str) -> str:
    return f"HELLO {name.upper()}!"
