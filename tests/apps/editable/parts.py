"""An app whose packages are installed editable where Nuitka does not look by itself
(tests/integration/test_packages.py): below the namespace package acme (a src layout and a flat
one) and through hatchling's exact mode; each reads its own data file."""

import acme.gadgets
import acme.widgets
import hexa

print(acme.widgets.knob(), acme.gadgets.spring(), hexa.value())
