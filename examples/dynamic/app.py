"""Packages that import modules by names they compute or keep in strings, or from their
extension modules, and a library loaded by name:

- boto3 registers its customisations as strings naming its own modules
  (`lazy_call("boto3.dynamodb.transform.register_high_level_interface")`);
- dateparser imports its language data by a computed name
  (`import_module("dateparser.data.date_translation_data." + lang)`);
- pyarrow's Cython extension `pyarrow.lib` imports `queue` and more, which no Python file shows;
- python-magic loads libmagic with `ctypes.util.find_library("magic")`, and libmagic reads its
  database, magic.mgc.

Nothing here reaches the network: the AWS clients are only made, never called.
"""

import datetime

import boto3
import dateparser
import magic
import pyarrow as pa
import pyarrow.compute as pc

session = boto3.session.Session(region_name="eu-west-1")
s3 = session.client("s3")
print(type(s3).__name__, sorted(m for m in dir(s3) if m.startswith("put_bucket_"))[:3])
table = session.resource("dynamodb").Table("things")
print(type(table).__name__, table.name, sorted(m for m in dir(table) if m.endswith("_item")))
bucket = session.resource("s3").Bucket("my-bucket")
print(type(bucket).__name__, bucket.name, hasattr(bucket, "upload_file"))

base = {"RELATIVE_BASE": datetime.datetime(2024, 5, 17, 12, 0)}
for text, languages in [
    ("12 March 2021", ["en"]),
    ("yesterday", ["en"]),
    ("le 3 janvier 2020 à 10h", ["fr"]),
    ("il y a 2 jours", ["fr"]),
]:
    print(text, "->", dateparser.parse(text, languages=languages, settings=base))

numbers = pa.table({"n": [1, 2, 3, 4], "s": ["a", "b", "a", "c"]})
print(numbers.num_rows, pc.sum(numbers["n"]).as_py(), numbers.schema.names)
print(numbers.group_by("s").aggregate([("n", "sum")]).sort_by("s").to_pydict())

for sample in (b"\x1f\x8b\x08\x00" + b"\0" * 16, b"%PDF-1.4\n", b"hello world\n"):
    print(magic.from_buffer(sample, mime=True), "|", magic.from_buffer(sample))
