"""Connections to the read-model database (psycopg 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from projections.errors import DatabaseError
from skillmind.settings import PostgresSettings


def connect(pg: PostgresSettings, *, dbname: str | None = None, autocommit: bool = True) -> psycopg.Connection:
    try:
        return psycopg.connect(pg.conninfo(dbname), autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as err:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {pg.host}:{pg.port}/{dbname or pg.dbname}: "
            f"{str(err).strip().splitlines()[0]}; is it up? (skillmind services status)"
        ) from err


def create_database(pg: PostgresSettings, name: str) -> str:
    """Create database ``name`` on the configured server and apply the migrations to it."""
    from psycopg import sql

    from projections.migrate import apply_migrations

    with connect(pg, dbname="postgres") as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    with connect(pg, dbname=name) as conn:
        apply_migrations(conn)
    return name


def drop_database(pg: PostgresSettings, name: str) -> None:
    from psycopg import sql

    with connect(pg, dbname="postgres") as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def scalar(conn: Any, query: Any, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
    """The first column of the first row of ``query`` (None when it returns no row)."""
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]
