import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from projections.migrate import apply_migrations
from skillmind.settings import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def report_db(services_up: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database with migrations applied."""
    name = f"rep_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services_up.postgres.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    with psycopg.connect(services_up.postgres.conninfo(name), autocommit=True) as conn:
        apply_migrations(conn)
    yield services_up.model_copy(update={"postgres": services_up.postgres.model_copy(update={"dbname": name})})
    with psycopg.connect(services_up.postgres.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
