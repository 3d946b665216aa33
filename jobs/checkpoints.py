"""Signed chain checkpoints: the scheduler appends one ``audit.checkpoint`` per tenant whose
log moved since its last checkpoint, naming the head (sequence, hash) and signing it.

A checkpoint's event id is ``checkpoint:<sequence>``: a second scheduler (or a rerun)
appending the same head is a duplicate the sequencer drops. Heads are read from
``audit_index``, which copies each record's hash from the log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog

from events.auditsign import checkpoint_data, load_private_key
from events.inbox import InboxWriter
from projections.runner import READ_MODEL_SCHEMA, schema_exists
from schemas.examples import cloud_event
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
CHECKPOINT = "audit.checkpoint"


def heads_to_checkpoint(settings: Settings, database: str | None = None) -> list[tuple[str, int, str]]:
    """(tenant, sequence, hash) of each tenant's last indexed record, unless that record is
    already a checkpoint (nothing happened since)."""
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        if not schema_exists(conn, READ_MODEL_SCHEMA):
            return []
        rows = conn.execute(
            f"select distinct on (tenant_id) tenant_id, sequence, hash, type from {READ_MODEL_SCHEMA}.audit_index "
            "order by tenant_id, sequence desc"
        ).fetchall()
    return [(tenant, sequence, hash_) for tenant, sequence, hash_, kind in rows if kind != CHECKPOINT]


def checkpoint_event(settings: Settings, tenant: str, sequence: int, head_hash: str, at: datetime) -> dict[str, Any]:
    key = load_private_key(settings.audit.signing_key.get_secret_value())
    return cloud_event(
        CHECKPOINT,
        checkpoint_data(key, tenant, sequence, head_hash),
        tenant=tenant,
        event_id=f"checkpoint:{sequence}",
        time=at,
        source="/skillmind/scheduler",
        actor="scheduler",
    )


def append_checkpoints(settings: Settings, database: str | None = None, *, at: datetime | None = None) -> int:
    """Append a signed checkpoint of every tenant's head that has moved; returns how many."""
    heads = heads_to_checkpoint(settings, database)
    if not heads:
        return 0
    now = at or datetime.now(UTC)
    writer = InboxWriter(settings.kafka)
    try:
        writer.append([checkpoint_event(settings, t, seq, h, now) for t, seq, h in heads])
    finally:
        writer.close()
    log.info("scheduler.checkpoints_appended", tenants=len(heads))
    return len(heads)
