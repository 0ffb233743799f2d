"""Compatibility suite, what services are made of: crypto, validation, RPC, async HTTP, cloud
SDKs, databases and migrations.

Registered by compat.py; alone: ``python services.py [all | PACKAGE...]``.

alembic runs the migrations in ``migrations/`` next to this file (in the image: shipped with
``--include-data migrations=migrations``) against SQLite in the temporary directory.
"""

from __future__ import annotations

import os
import tempfile

from harness import check, main

HERE = os.path.dirname(os.path.abspath(__file__))


@check("cryptography")
def _cryptography() -> str:
    import datetime

    from cryptography import x509
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.x509.oid import NameOID

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"salt", info=b"compat").derive(b"k")
    signer = ed25519.Ed25519PrivateKey.from_private_bytes(key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compat.example")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signer.public_key())
        .serial_number(42)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(signer, None)  # Ed25519 signatures are deterministic
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    loaded = x509.load_pem_x509_certificate(pem)
    fernet = Fernet(Fernet.generate_key())
    round_trip = fernet.decrypt(fernet.encrypt(b"secret")).decode()
    fingerprint = loaded.fingerprint(hashes.SHA256()).hex()[:16]
    return (
        f"hkdf {key.hex()[:16]} cert {fingerprint} {loaded.subject.rfc4514_string()} {round_trip}"
    )


@check("pydantic")
def _pydantic() -> str:
    from pydantic import BaseModel, Field, ValidationError

    class Item(BaseModel):
        name: str = Field(min_length=1)
        price: float = Field(gt=0)
        tags: list[str] = []

    item = Item.model_validate_json('{"name": "tea", "price": "4.5", "tags": ["hot"]}')
    try:
        Item(name="", price=-1)
    except ValidationError as exc:
        errors = [(e["loc"][0], e["type"]) for e in exc.errors()]
    schema = sorted(Item.model_json_schema()["properties"])
    return f"{item.model_dump_json()} {errors} {schema}"


@check("jsonschema")
def _jsonschema() -> str:
    import jsonschema

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"age": {"type": "integer", "minimum": 0}, "email": {"format": "email"}},
        "required": ["age"],
    }
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(e.message for e in validator.iter_errors({"age": -1, "email": "nope"}))
    return f"{validator_class.__name__} {errors}"


@check("protobuf")
def _protobuf() -> str:
    from google.protobuf import json_format, struct_pb2, timestamp_pb2
    from google.protobuf.internal import api_implementation

    value = struct_pb2.Struct()
    value.update({"name": "tea", "sizes": [1, 2], "hot": True})
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString("2024-01-02T03:04:05Z")
    again = struct_pb2.Struct.FromString(value.SerializeToString())
    as_json = json_format.MessageToJson(again, sort_keys=True, indent=None)
    return f"{api_implementation.Type()} {as_json} {stamp.seconds}"


@check("grpcio")
def _grpcio() -> str:
    from concurrent import futures

    import grpc

    def shout(request: bytes, _context: grpc.ServicerContext) -> bytes:
        return request.upper()

    handler = grpc.method_handlers_generic_handler(
        "compat.Echo", {"Shout": grpc.unary_unary_rpc_method_handler(shout)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/compat.Echo/Shout")
            answer = call(b"hello grpc", timeout=10)
    finally:
        server.stop(None)
    return answer.decode()


@check("aiohttp")
def _aiohttp() -> str:
    import asyncio

    from aiohttp import ClientSession, web

    async def add(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"sum": body["a"] + body["b"], "q": request.query["q"]})

    async def run() -> str:
        app = web.Application()
        app.router.add_post("/add", add)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with ClientSession() as session:
                url = f"http://127.0.0.1:{port}/add?q=x"
                async with session.post(url, json={"a": 2, "b": 40}) as answer:
                    return f"{answer.status} {await answer.json()}"
        finally:
            await runner.cleanup()

    return asyncio.run(run())


@check("boto3")
def _boto3() -> str:
    import boto3
    from boto3.dynamodb.conditions import Attr, Key
    from botocore.stub import Stubber

    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",  # noqa: S106 - a made-up key; nothing is sent
        region_name="eu-west-1",
    )
    s3 = session.client("s3")
    with Stubber(s3) as stub:
        stub.add_response("list_buckets", {"Buckets": [{"Name": "compat"}]})
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    table = session.resource("dynamodb").Table("things")  # boto3's DynamoDB customisations
    condition = (Key("id").eq(1) & Attr("size").gt(2)).get_expression()
    expression = f"{condition['format']} {condition['operator']}"
    return f"{s3.meta.endpoint_url} {buckets} {table.name} {expression}"


@check("SQLAlchemy")
def _sqlalchemy() -> str:
    from sqlalchemy import ForeignKey, Integer, String, create_engine, func, select
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, relationship

    # Declared without annotations: a model inside a function cannot use Mapped["..."] names.
    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = "author"
        id = mapped_column(Integer, primary_key=True)
        name = mapped_column(String(50))
        books = relationship("Book", back_populates="author")

    class Book(Base):
        __tablename__ = "book"
        id = mapped_column(Integer, primary_key=True)
        title = mapped_column(String(100))
        author_id = mapped_column(ForeignKey("author.id"))
        author = relationship(Author, back_populates="books")

    engine = create_engine("sqlite+pysqlite:///:memory:")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [
                Author(name="Le Guin", books=[Book(title="Lathe"), Book(title="Dispossessed")]),
                Author(name="Lem", books=[Book(title="Solaris")]),
            ]
        )
        session.commit()
        counts = session.execute(
            select(Author.name, func.count(Book.id)).join(Author.books).group_by(Author.name)
        ).all()
    compiled = select(Book.title).where(Book.title.ilike("%sol%")).limit(2)
    pg = " ".join(str(compiled.compile(dialect=postgresql.dialect())).split())
    return f"{sorted(tuple(row) for row in counts)} {pg}"


@check("psycopg")
def _psycopg() -> str:
    import psycopg
    from psycopg import sql

    statement = sql.SQL("SELECT {} FROM {} WHERE id = {}").format(
        sql.Identifier("name"), sql.Identifier("my table"), sql.Literal(7)
    )
    try:
        psycopg.connect("host=127.0.0.1 port=9 dbname=x user=x connect_timeout=3")
    except psycopg.OperationalError as exc:
        refused = type(exc).__name__ + (" refused" if "refused" in str(exc) else f" {exc}")
    return f"{psycopg.pq.__impl__} libpq {psycopg.pq.version()} {statement.as_string()} {refused}"


@check("alembic")
def _alembic() -> str:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/app.db"
        config = Config()
        config.set_main_option("script_location", os.path.join(HERE, "migrations"))
        config.set_main_option("sqlalchemy.url", url)
        command.upgrade(config, "head")
        engine = create_engine(url)
        with engine.connect() as connection:
            tables = sorted(inspect(connection).get_table_names())
            version = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            head = version.scalar()
        engine.dispose()
    return f"upgraded to {head}: tables {tables}"


if __name__ == "__main__":
    raise SystemExit(main())
