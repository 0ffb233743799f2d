"""An app whose own code reads source: inspect.getsource of its own function and of its own
package's, and the source line a traceback shows. Code compiled to C has no source in the
image unless the app's files ship with it (pybin2img ships them when the app reads source)."""

import inspect
import traceback

import owndata


def answer() -> int:
    """The answer."""
    return 42


def failing() -> None:
    raise ValueError("shown with its line")


print("own function:", len(inspect.getsource(answer).splitlines()), "lines")
print("own package:", inspect.getsource(owndata.read).splitlines()[0])
try:
    failing()
except ValueError:
    print("traceback shows:", traceback.format_exc().splitlines()[-2].strip())
