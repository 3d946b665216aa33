from __future__ import annotations

import psycopg
import pytest

from projections.migrate import Migration, MigrationError, apply_migrations, discover


def _schema(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select table_name, column_name, data_type from information_schema.columns"
        " where table_schema = current_schema() order by 1, 2"
    ).fetchall()


def test_migrations_apply_once_and_twice_changes_nothing(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("drop schema public cascade; create schema public")
    applied = apply_migrations(pg_conn)
    assert [m.version for m in applied] == [m.version for m in discover()]
    before = _schema(pg_conn)
    history = pg_conn.execute("select version, checksum, applied_at from schema_migrations").fetchall()

    assert apply_migrations(pg_conn) == []
    assert _schema(pg_conn) == before
    assert pg_conn.execute("select version, checksum, applied_at from schema_migrations").fetchall() == history


def test_an_edited_migration_is_refused(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("drop schema public cascade; create schema public")
    apply_migrations(pg_conn)
    first = discover()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- edited")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(pg_conn, [edited])


def test_a_failing_migration_leaves_no_trace(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("drop schema public cascade; create schema public")
    broken = Migration(1, "broken", "create table half_done (id int); select 1/0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        apply_migrations(pg_conn, [broken])
    tables = {r[0] for r in _schema(pg_conn)}
    assert "half_done" not in tables
    assert pg_conn.execute("select count(*) from schema_migrations").fetchone() == (0,)
