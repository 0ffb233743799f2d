"""An app whose package is installed editable in a project's venv (tests/integration/
test_packages.py): it prints the package's data file, its version and its entry points, and
asks pkg_resources (the venv's setuptools) about the files of a package installed there the
usual way, which the image carries as bytecode, and which only pkg_resources imports."""

import greeter

print(greeter.greet("pybin2img"))
try:
    import pkg_resources
except ImportError:
    print("no pkg_resources")
else:
    print(
        "pkg_resources:",
        pkg_resources.resource_exists("palette", "colours/red.txt"),
        pkg_resources.resource_isdir("palette", "colours"),
        sorted(pkg_resources.resource_listdir("palette", "colours")),
        pkg_resources.resource_string("palette", "colours/red.txt"),
    )
