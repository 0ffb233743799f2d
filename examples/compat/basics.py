"""Compatibility suite, everyday libraries: HTTP, encodings, formats, dates, CLIs, templates;
and tools that find their parts at run time: a formatter built with mypyc, a linter whose
checkers are entry-point plugins, a YAML library with plugins found next to its files, a date
parser whose language data are modules imported by name, a document processor whose language
modules are imported by a name made from a prefix a class attribute holds, and a library whose
methods typeguard type-checks by reading their source.

Registered by compat.py; alone: ``python basics.py [all | PACKAGE...]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile

from harness import check, echo_server, main


@check("requests")
def _requests() -> str:
    import requests

    with echo_server() as url, requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: the server is on loopback
        answer = session.post(f"{url}/items", params={"q": "ünï"}, json={"a": 1}, timeout=10)
        answer.raise_for_status()
        echoed = answer.json()
    return f"{answer.status_code} {echoed['path']} {echoed['body']} {answer.encoding}"


@check("urllib3")
def _urllib3() -> str:
    import urllib3

    parsed = urllib3.util.parse_url("https://user@example.org:8443/a/b?x=1#frag")
    with echo_server() as url:
        pool = urllib3.PoolManager(retries=urllib3.Retry(total=1))
        answer = pool.request("GET", f"{url}/ping", fields={"n": "1"}, timeout=10)
        pool.clear()
    return f"{answer.status} {answer.json()['path']} {parsed.host}:{parsed.port}{parsed.path}"


@check("certifi")
def _certifi() -> str:
    import certifi

    with open(certifi.where(), encoding="ascii") as bundle:
        count = bundle.read().count("BEGIN CERTIFICATE")
    return f"{count} CA certificates"


@check("charset-normalizer")
def _charset_normalizer() -> str:
    from charset_normalizer import from_bytes

    text = "Привет, как дела? Это простой текст на русском языке для проверки кодировки."
    found = []
    for encoding in ("cp1251", "utf-8"):
        best = from_bytes(text.encode(encoding)).best()
        assert best is not None
        found.append(f"{best.encoding} {str(best) == text} {best.language}")
    return ", ".join(found)


@check("idna")
def _idna() -> str:
    import idna

    encoded = idna.encode("ドメイン.テスト")
    return f"{encoded.decode()} {idna.decode(encoded)}"


@check("PyYAML")
def _pyyaml() -> str:
    import yaml

    document = "b: [1, 2.5, true]\na: {x: null, y: '2024-01-02'}\nc: 2024-01-02\n"
    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    data = yaml.load(document, Loader=loader)  # noqa: S506 - a safe loader, C or Python
    dumped = yaml.safe_dump(data, sort_keys=True, default_flow_style=True).strip()
    return f"libyaml={yaml.__with_libyaml__} {dumped}"


@check("attrs")
def _attrs() -> str:
    import attrs

    @attrs.define
    class Point:
        x: int = attrs.field(validator=attrs.validators.instance_of(int))
        y: int = 0

    moved = attrs.evolve(Point(1, 2), y=5)
    try:
        Point("a")
    except TypeError as exc:
        refused = type(exc).__name__
    return f"{moved!r} {attrs.asdict(moved)} refused {refused}"


@check("python-dateutil")
def _dateutil() -> str:
    from datetime import datetime

    from dateutil import parser, rrule, tz
    from dateutil.relativedelta import relativedelta

    paris = tz.gettz("Europe/Paris")
    moment = parser.parse("2024-03-31 01:30").replace(tzinfo=paris)
    later = moment + relativedelta(hours=+1, months=+1)
    days = rrule.rrule(rrule.WEEKLY, byweekday=rrule.FR, count=3, dtstart=datetime(2024, 2, 1))
    fridays = ",".join(d.strftime("%d") for d in days)
    return f"{moment.isoformat()} {moment.tzname()} {later.isoformat()} fridays {fridays}"


@check("pytz")
def _pytz() -> str:
    from datetime import datetime

    import pytz

    new_york = pytz.timezone("America/New_York")
    summer = new_york.localize(datetime(2024, 7, 4, 12, 0))
    try:
        new_york.localize(datetime(2024, 3, 10, 2, 30), is_dst=None)
    except pytz.exceptions.NonExistentTimeError:
        gap = "gap found"
    return f"{summer.isoformat()} {summer.tzname()} {gap} {len(pytz.all_timezones) > 400}"


@check("click")
def _click() -> str:
    import click
    from click.testing import CliRunner

    @click.command()
    @click.option("--count", type=click.IntRange(1, 3), default=1)
    @click.argument("name")
    def hello(count: int, name: str) -> None:
        for _ in range(count):
            click.echo(f"hi {name}")

    runner = CliRunner()
    ran = runner.invoke(hello, ["--count", "2", "Zoé"])
    refused = runner.invoke(hello, ["--count", "9", "x"])
    error = refused.output.strip().splitlines()[-1]
    return f"{ran.output.splitlines()} exit {refused.exit_code}: {error}"


@check("rich")
def _rich() -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=True, color_system="truecolor")
    table = Table(title="Stock")
    table.add_column("fruit")
    table.add_column("count", justify="right")
    table.add_row("pears", "3")
    table.add_row("plums", "[bold red]40[/]")
    console.print(table)
    console.print_json('{"b": [1, 2], "a": null}')
    text = out.getvalue()
    return (
        f"{len(text.splitlines())} lines, sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}"
    )


@check("Jinja2")
def _jinja2() -> str:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    loader = jinja2.DictLoader(
        {
            "base.html": "<h1>{% block title %}{% endblock %}</h1>{% block body %}{% endblock %}",
            "page.html": (
                "{% extends 'base.html' %}{% block title %}{{ title|title }}{% endblock %}"
                "{% block body %}{% for i in items|sort %}<i>{{ i }}</i>{% endfor %}{% endblock %}"
            ),
        }
    )
    env = jinja2.Environment(loader=loader, autoescape=True)
    page = env.get_template("page.html").render(title="hello <world>", items=["b", "a&"])
    sandboxed = SandboxedEnvironment().from_string("{{ 6 * 7 }}").render()
    return f"{page} {sandboxed}"


@check("Markdown")
def _markdown() -> str:
    import markdown

    text = "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n\n[TOC]\n"
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "toc", "sane_lists"])
    return html.replace("\n", "")


@check("msgpack")
def _msgpack() -> str:
    import msgpack

    data = {"a": [1, 2.5, None, True], "b": b"\x00\xff", "c": "ünï"}
    packed = msgpack.packb(data)
    same = msgpack.unpackb(packed) == data
    extension = msgpack.Packer.__module__  # msgpack._cmsgpack unless the C module is missing
    return f"{packed.hex()} {same} {extension}"


@check("orjson")
def _orjson() -> str:
    import dataclasses
    import datetime

    import orjson

    @dataclasses.dataclass
    class Item:
        name: str
        at: datetime.datetime

    item = Item("tea", datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    dumped = orjson.dumps({"z": 1, "item": item, "n": [1.5, None]}, option=orjson.OPT_SORT_KEYS)
    return f"{dumped.decode()} {orjson.loads(dumped) == json.loads(dumped)}"


@check("packaging")
def _packaging() -> str:
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    spec = SpecifierSet(">=1.4,!=1.5.*,<3")
    chosen = sorted(
        v for v in map(Version, ["1.3", "1.4.2", "1.5.1", "2.0rc1", "2.9"]) if v in spec
    )
    requirement = Requirement('requests[socks]>=2.31; python_version >= "3.8"')
    marker = Marker('os_name == "posix" and extra == "x"').evaluate({"extra": "x"})
    return f"{[str(v) for v in chosen]} {requirement.name} {sorted(requirement.extras)} {marker}"


@check("six")
def _six() -> str:
    import six
    from six.moves import urllib
    from six.moves.collections_abc import Mapping

    quoted = urllib.parse.quote("a b/ü")
    return f"{quoted} {six.PY3} {issubclass(dict, Mapping)} {six.ensure_text(b'ok')}"


UGLY = "x = {  'a':37,'b':42,\n'c':927}\ndef f(a,b = 1) :\n  return a+b\n"


@check("black")
def _black() -> str:
    import black

    formatted = black.format_str(UGLY, mode=black.Mode(line_length=40))
    return repr(formatted)


@check("flake8")
def _flake8() -> str:
    from flake8.api import legacy

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ugly.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write("import os\n" + UGLY)
        guide = legacy.get_style_guide(select=["E", "F", "W", "C90"], max_complexity=5)
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            report = guide.check_files([path])  # its report names the temporary file
    codes = sorted(
        line.split()[1] for prefix in ("E", "F", "W") for line in report.get_statistics(prefix)
    )
    return f"{report.total_errors} errors: {' '.join(codes)}"


@check("ruamel.yaml")
def _ruamel_yaml() -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load("# stock\nfruit:\n  - pears   # ripe\n  - plums\ncount: 3\n")
    data["count"] += 1
    data["fruit"].append("figs")
    out = io.StringIO()
    yaml.dump(data, out)
    return repr(out.getvalue())


@check("ruamel.yaml.string")
def _ruamel_yaml_string() -> str:
    from ruamel.yaml import YAML

    # The plugin adds dump_to_string; ruamel.yaml finds it by its name in `typ`.
    yaml = YAML(typ=["rt", "string"])
    return repr(yaml.dump_to_string({"a": [1, 2], "b": {"c": None}}))


@check("dateparser")
def _dateparser() -> str:
    from datetime import datetime

    import dateparser

    settings = {"RELATIVE_BASE": datetime(2024, 5, 17, 12, 0), "TIMEZONE": "UTC"}
    found = [
        dateparser.parse(text, settings=settings)
        for text in ("12 janvier 2024 à 10h", "vor 3 Tagen", "2 weeks ago", "mañana a las 9")
    ]
    return " ".join(moment.isoformat() if moment else "None" for moment in found)


@check("docutils")
def _docutils() -> str:
    from docutils.core import publish_string

    # The language modules (labels, and directive names in the document's language) are
    # imported by a name made from a prefix its importer class holds in an attribute.
    source = "Titre\n=====\n\n*emphase*\n\n.. astuce:: Une astuce\n\n:Auteur: Moi\n"
    html = publish_string(
        source,
        writer_name="html5",
        settings_overrides={"language_code": "fr", "output_encoding": "unicode", "report_level": 5},
    )
    return " ".join(
        [
            "tip" if 'class="admonition tip"' in html else "no tip",
            "Auteur" if "Auteur" in html else "no author label",
            hashlib.sha256(html.encode()).hexdigest()[:12],
        ]
    )


@check("inflect")
def _inflect() -> str:
    import inflect  # its engine's methods are @typechecked: typeguard reads their source

    engine = inflect.engine()
    try:
        engine.plural(3)  # type: ignore[arg-type]
        checked = "not type-checked"
    except Exception as exc:  # noqa: BLE001 - typeguard's TypeCheckError
        checked = type(exc).__name__
    words = [engine.plural("mouse"), engine.number_to_words(1234), engine.a("hour")]
    return f"{', '.join(words)}, {checked}"


@check("pyexcel")
def _pyexcel() -> str:
    import pyexcel

    # lml's plugin chains name their sources and renderers relative to the package's
    # __name__ ("output_to_memory.WriteSheetToMemory"): imported at the first use.
    sheet = pyexcel.Sheet([[1, 2], [3, 4]], name="s")
    csv = sheet.get_csv()
    back = pyexcel.get_sheet(file_type="csv", file_content=csv)
    return f"{csv!r} {sheet.get_tsv()!r} {back.to_array()}"


if __name__ == "__main__":
    raise SystemExit(main())
