"""An app whose package is installed editable in a project's venv (tests/integration/
test_packages.py): it prints the package's data file, its version and its entry points."""

import greeter

print(greeter.greet("pybin2img"))
