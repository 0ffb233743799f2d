"""Packages as they are installed: data next to their code, plugins found by globbing, mypyc
modules, and migrations loaded by path from a directory shipped with --include-data."""

import inspect
import os
import sys
import tempfile
from pathlib import Path

import black
import datademo
import sqlalchemy
from alembic import command
from alembic.config import Config
from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent


def main() -> int:
    print("data:", datademo.GREETING)
    print("messages:", datademo.messages())
    yaml = YAML(typ=["rt", "string"])
    print("yaml:", yaml.dump_to_string({"a": [1, 2]}).replace("\n", " | "))
    print("yaml file:", os.path.isfile(sys.modules["ruamel.yaml.main"].__file__ or ""))
    print("yaml source:", inspect.getsource(YAML.official_plug_ins).splitlines()[0].strip())
    print("black:", black.format_str("x  =  {'a':1}", mode=black.Mode()).strip())
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/app.db"
        config = Config()
        config.set_main_option("script_location", str(HERE / "migrations"))
        config.set_main_option("sqlalchemy.url", url)
        command.upgrade(config, "head")
        engine = sqlalchemy.create_engine(url)
        print("tables:", sorted(sqlalchemy.inspect(engine).get_table_names()))
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
