"""A password libpq would misread unquoted (space, quote, backslash, "key=") works for real."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql
from pydantic import SecretStr

from skillmind.settings import Settings


def test_a_password_with_spaces_and_quotes_connects(services_up: Settings, database: str) -> None:
    role = f"test_role_{uuid.uuid4().hex[:8]}"
    password = "s p'a\"c\\e dbname=postgres"
    admin = services_up.postgres.conninfo("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(password)))
    try:
        pg = services_up.postgres.model_copy(update={"user": role, "password": SecretStr(password)})
        with psycopg.connect(pg.conninfo(database)) as conn:
            assert conn.execute("select current_user, current_database()").fetchone() == (role, database)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
