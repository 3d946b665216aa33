"""Sequencer checkpoints against the real broker and PostgreSQL: recovery from a checkpoint
(current or lagging) gives the state a full read gives, and reads only what follows it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from events.inbox import InboxWriter
from events.sequencer import Sequencer, SequencerConfig
from events.sequencing import SequencerState
from schemas.examples import cloud_event
from skillmind.settings import Settings
from tests.integration.logtools import log_records, running_sequencer, wait_drained

TENANTS = ("acme", "beta", "gamma", "delta")


@pytest.fixture
def checkpointed(log_settings: Settings, report_db: Settings) -> Iterator[Settings]:
    yield log_settings.model_copy(update={"postgres": report_db.postgres})


def append(settings: Settings, events: list[dict]) -> None:
    writer = InboxWriter(settings.kafka)
    writer.append(events)
    writer.close()


def signins(tenant: str, start: int, count: int) -> list[dict]:
    return [
        cloud_event("learner.signed_in", {"learner_id": f"l{n}"}, tenant=tenant, event_id=f"{tenant}-{n}")
        for n in range(start, start + count)
    ]


def created() -> list[dict]:
    return [cloud_event("tenant.created", {"tenant_id": t, "name": t}, tenant=t) for t in TENANTS]


def recovered(settings: Settings, *, checkpoints: bool) -> dict[int, SequencerState]:
    sequencer = Sequencer(SequencerConfig(settings.kafka, postgres=settings.postgres if checkpoints else None))
    try:
        return sequencer._recover(list(range(settings.kafka.partitions)))
    finally:
        sequencer.consumer.close()


def same(a: dict[int, SequencerState], b: dict[int, SequencerState]) -> bool:
    return all(a[p].heads == b[p].heads and a[p].recent_ids == b[p].recent_ids for p in a)


def stored_offsets(settings: Settings) -> dict[int, int]:
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        return dict(conn.execute("select partition, log_offset from sequencer_checkpoints").fetchall())  # type: ignore[arg-type]


def test_recovery_from_a_checkpoint_equals_a_full_read(checkpointed: Settings) -> None:
    settings = checkpointed
    append(settings, created() + [e for t in TENANTS for e in signins(t, 0, 50)])
    with running_sequencer(settings, checkpoints=True):
        wait_drained(settings)
    assert len(log_records(settings)) == len(TENANTS) * 51
    assert stored_offsets(settings), "a clean stop saves a checkpoint"

    full, from_checkpoint = recovered(settings, checkpoints=False), recovered(settings, checkpoints=True)
    assert same(full, from_checkpoint)
    assert not any(s.unsaved.everything or s.unsaved.ids for s in from_checkpoint.values()), "nothing was read"

    # A lagging checkpoint: more records appended by a sequencer that saves none.
    append(settings, [e for t in TENANTS for e in signins(t, 50, 30)])
    with running_sequencer(settings):
        wait_drained(settings)
    lagging = stored_offsets(settings)
    assert same(recovered(settings, checkpoints=False), recovered(settings, checkpoints=True))

    # A checkpointing sequencer starts from the lagging checkpoint, dedupes the old ids, and
    # moves the checkpoint on.
    append(settings, signins("acme", 0, 80) + signins("beta", 80, 5))
    with running_sequencer(settings, checkpoints=True) as counters:
        wait_drained(settings)
    assert (counters.duplicates, counters.appended) == (80, 5)
    assert stored_offsets(settings) != lagging
    assert same(recovered(settings, checkpoints=False), recovered(settings, checkpoints=True))


def test_a_checkpoint_of_another_topic_incarnation_is_never_used(checkpointed: Settings) -> None:
    settings = checkpointed
    append(settings, created() + signins("acme", 0, 10))
    with running_sequencer(settings, checkpoints=True):
        wait_drained(settings)
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        conn.execute("update sequencer_checkpoints set topic_id = 'a-deleted-topic', log_offset = 10000")
    # The stored heads claim nothing about this topic: recovery reads it whole.
    assert same(recovered(settings, checkpoints=False), recovered(settings, checkpoints=True))
    append(settings, signins("acme", 10, 3))
    with running_sequencer(settings, checkpoints=True) as counters:
        wait_drained(settings)
    assert counters.appended == 3
    assert [r["sequence"] for r in log_records(settings) if r["tenantid"] == "acme"] == list(range(1, 15))
