"""SQLAlchemy 2 (ORM, SQLite in memory) and psycopg2-binary (its bundled libpq).

    store.py     prints JSON: ORM query results, a statement compiled for PostgreSQL, libpq's
                 version, and the error a refused PostgreSQL connection gives

SQLAlchemy finds its dialects and drivers by name from the URL ("postgresql+psycopg2://...");
psycopg2-binary carries libpq, libssl and friends in psycopg2_binary.libs with an RPATH.
"""

from __future__ import annotations

import json

import psycopg2
import psycopg2.extensions
from sqlalchemy import ForeignKey, String, create_engine, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="books")


def main() -> None:
    engine = create_engine("sqlite+pysqlite:///:memory:")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [
                Author(name="Le Guin", books=[Book(title="The Dispossessed"), Book(title="Lathe")]),
                Author(name="Lem", books=[Book(title="Solaris")]),
            ]
        )
        session.commit()
        counts = session.execute(
            select(Author.name, func.count(Book.id)).join(Author.books).group_by(Author.name)
        ).all()
    statement = select(Book.title).where(Book.title.ilike("%sol%")).limit(2)
    pg_sql = str(statement.compile(dialect=postgresql.psycopg2.dialect()))
    refused = create_engine(
        "postgresql+psycopg2://user:pw@127.0.0.1:9/shop", connect_args={"connect_timeout": 3}
    )
    try:
        with refused.connect():
            error = None
    except OperationalError as exc:
        error = type(exc.orig).__name__
    print(
        json.dumps(
            {
                "counts": sorted([name, n] for name, n in counts),
                "postgresql": " ".join(pg_sql.split()),
                "libpq": psycopg2.extensions.libpq_version(),
                "psycopg2": psycopg2.__version__.split()[0],
                "refused": error,
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
