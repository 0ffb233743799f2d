"""Debian's python3-pyproj, python3-tzlocal and python3-netaddr, built with Debian's
/usr/bin/python3: pyproj calls the system's libproj, which reads its database from another
package of its source (proj-data: /usr/share/proj/proj.db); tzlocal names the local zone from
/etc/timezone first; netaddr reads the index next to its code (``eui/oui.idx``), which no RECORD
lists (Debian installs none), and ieee-data's registry through a link beside it.
In the image pyproj's own Python code warns at import that it finds no data directory (it looks
beside ``sys.prefix``, which is ``/app`` there); libproj finds its own.
tests/integration/test_debian_packages.py compares the image with the interpreter."""

import netaddr
import tzlocal
from pyproj import CRS, Transformer

to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
x, y = to_mercator.transform(2.35, 48.85)
print("pyproj", round(x), round(y), CRS.from_epsg(2154).name)
print("tzlocal", tzlocal.get_localzone_name())
oui = netaddr.EUI("00-1B-77-49-54-FD").oui
print("netaddr", len(oui.records), netaddr.OUI("00-00-0C").registration().org)
