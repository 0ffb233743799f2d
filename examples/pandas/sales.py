"""A pandas report: read a CSV, group, pivot, resample a time series in a named time zone.

    sales.py              prints the report as JSON

pandas pulls in numpy, dateutil and the time zone database (zoneinfo): the image must answer
exactly as the host does, down to daylight-saving transitions.
"""

from __future__ import annotations

import io
import json

import pandas as pd

CSV = """day,region,product,units,price
2024-03-29,north,tea,3,4.5
2024-03-30,north,coffee,5,3.0
2024-03-30,south,tea,2,4.5
2024-03-31,south,coffee,7,3.0
2024-03-31,north,tea,1,4.5
2024-04-01,south,tea,4,4.5
"""


def main() -> None:
    df = pd.read_csv(io.StringIO(CSV), parse_dates=["day"])
    df["revenue"] = df["units"] * df["price"]
    by_region = df.groupby("region")["revenue"].sum()
    pivot = df.pivot_table(index="region", columns="product", values="units", aggfunc="sum")
    stamps = pd.date_range("2024-03-30 22:00", periods=8, freq="h", tz="Europe/Paris")
    hours = pd.Series(range(8), index=stamps).resample("D").count()
    print(
        json.dumps(
            {
                "pandas": pd.__version__,
                "revenue": by_region.to_dict(),
                "pivot": json.loads(pivot.fillna(0).to_json()),
                "days": {str(k): int(v) for k, v in hours.items()},
                "describe": json.loads(df["units"].describe().round(3).to_json()),
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
