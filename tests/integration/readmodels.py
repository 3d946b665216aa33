"""Seed read models straight from events (sequenced in memory, folded by the real writer)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from events.sequencing import Append, SequencerState
from projections.runner import LogMessage, ReadModelWriter, ensure_schema
from schemas.validation import Valid, validate_event


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
        ReadModelWriter(conn, "seed", publish=False).apply([LogMessage(0, n, r) for n, r in enumerate(records)])
    return records
