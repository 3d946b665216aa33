"""Versioned SQL migrations (``migrations/NNNN_name.sql``), applied in order, exactly once.

Each file runs in its own transaction together with its row in ``schema_migrations``,
under an advisory lock, so concurrent starters cannot apply a file twice. A file
changed after it was applied is an error: migrations are history, like the log.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from projections.errors import MigrationError

MIGRATION_LOCK_ID = 0x5C11_1D  # arbitrary, constant: one advisory lock for all migrators
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover() -> list[Migration]:
    """The migration files shipped with the package, ordered by version."""
    found = []
    for entry in resources.files("projections").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def apply_migrations(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply what is not applied yet; return what was applied now (empty when up to date)."""
    migrations = migrations if migrations is not None else discover()
    applied_now = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_ID])
        conn.execute(
            "create table if not exists schema_migrations ("
            " version integer primary key, name text not null, checksum text not null,"
            " applied_at timestamptz not null default now())"
        )
    for migration in migrations:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_ID])
            row = conn.execute(
                "select checksum from schema_migrations where version = %s", [migration.version]
            ).fetchone()
            if row:
                if row[0] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it "
                        "was applied; add a new migration instead of editing an old one."
                    )
                continue
            conn.execute(migration.sql)
            conn.execute(
                "insert into schema_migrations (version, name, checksum) values (%s, %s, %s)",
                [migration.version, migration.name, migration.checksum],
            )
            applied_now.append(migration)
    return applied_now
