"""Shared fixtures. Integration tests talk to the real services that
`skillmind services up` started (make test does it); nothing here fakes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from psycopg import sql

from skillmind.settings import Settings, load_settings

# No timing assertions in tests, hypothesis' per-example deadline included: a loaded CI
# machine must not turn a slow example into a failure.
hypothesis_settings.register_profile("skillmind", deadline=None)
hypothesis_settings.load_profile("skillmind")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def services_up(settings: Settings) -> Settings:
    """Fail fast, with the fix, when the services are not running."""
    from skillmind import services

    down = [h for h in (s.status() for s in services.select(settings)) if not h.healthy]
    if down:
        pytest.fail(
            "integration tests need the real services; run `make test` or "
            "`skillmind services up` first: " + "; ".join(f"{h.name}: {h.problem}" for h in down),
            pytrace=False,
        )
    return settings


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def isolated_settings(services_up: Settings) -> Iterator[Settings]:
    """Settings whose topics are this test's own (a unique topic prefix), deleted afterwards."""
    from events.topics import delete_prefixed_topics

    kafka = services_up.kafka.model_copy(update={"topic_prefix": unique("t"), "partitions": 3})
    yield services_up.model_copy(update={"kafka": kafka})
    delete_prefixed_topics(kafka)


@pytest.fixture(scope="session")
def database(services_up: Settings) -> Iterator[str]:
    """A fresh database for this test session, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin_info = services_up.postgres.conninfo("postgres")
    with psycopg.connect(admin_info, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(admin_info, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def pg_conn(services_up: Settings, database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(services_up.postgres.conninfo(database), autocommit=True) as conn:
        yield conn


@pytest.fixture
def log_settings(isolated_settings: Settings) -> Settings:
    """Isolated settings with the whole topic catalogue created."""
    from events.topics import bootstrap_topics

    bootstrap_topics(isolated_settings.kafka)
    return isolated_settings
