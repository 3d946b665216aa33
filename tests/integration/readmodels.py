"""Seed read models straight from events (sequenced in memory, folded by the real writer)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from events.sequencing import Append, SequencerState
from projections.migrate import apply_migrations
from projections.runner import LogMessage, ReadModelWriter, ensure_schema
from schemas.validation import Valid, validate_event
from skillmind.settings import Settings


def sequenced(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    state = SequencerState(timedelta(days=3650))
    batch = state.batch(datetime(2027, 1, 1, tzinfo=UTC))
    out = []
    for event in events:
        valid = validate_event(event)
        assert isinstance(valid, Valid), valid
        decision = batch.decide(valid)
        if isinstance(decision, Append):
            out.append(decision.record)
    return out


def seed(conninfo: str, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    records = sequenced(events)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schema(conn)
        ReadModelWriter(conn, "seed", publish=False).apply(
            [LogMessage(0, n, r) for n, r in enumerate(records)]
        )
    return records


@pytest.fixture
def report_db(services_up: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database with migrations applied."""
    name = f"rep_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services_up.postgres.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    with psycopg.connect(services_up.postgres.conninfo(name), autocommit=True) as conn:
        apply_migrations(conn)
    yield services_up.model_copy(
        update={"postgres": services_up.postgres.model_copy(update={"dbname": name})}
    )
    with psycopg.connect(services_up.postgres.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
