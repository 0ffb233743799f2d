"""Debian 12's python3-shapely (1.8), which loads the system's GEOS by its soname: Nuitka's
configuration for shapely < 2 cannot place a library named so, and the build says what works."""

from shapely.geometry import Point

print("area", round(Point(0, 0).buffer(1).area, 2))
