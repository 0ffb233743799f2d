"""An app configured by files it ships (``--include-data``) and by packages that name modules.

Its logging configuration (``logging.json`` beside it) names a third-party formatter class that
no import statement of the app reaches: the build reads the names in the file. python-dateutil
4 reads its zones from tzdata's packages by names it makes (``tzdata.zoneinfo.America.
Argentina``): the build reads what a package names of the packages it requires.
"""

import datetime
import json
import logging.config
import os
import warnings


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "logging.json"), encoding="utf-8") as f:
        logging.config.dictConfig(json.load(f))
    logging.getLogger("configured").info("started", extra={"zones": "tzdata"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dateutil.zoneinfo import get_zonefile_instance

        zones = get_zonefile_instance()
    when = datetime.datetime(2024, 7, 1)
    for name in ("Africa/Abidjan", "America/Argentina/Buenos_Aires", "America/Indiana/Knox"):
        print(name, zones.get(name).utcoffset(when))
    print("zones:", len(zones.zones) > 300)


main()
