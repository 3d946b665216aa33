"""Publish queued scores from the outbox to ``skillmind.engagement-scores.v1``.

At least once, with a stable ``id`` per record (tenant:learner:day:tick_sequence):
rows are deleted only after Kafka acknowledged them, so a crash in between
re-publishes a record that consumers recognise by its id.
"""

from __future__ import annotations

import json

import psycopg
from confluent_kafka import Producer

from events.errors import LogError
from events.kafka import producer_config
from events.topics import topic_name
from skillmind.settings import KafkaSettings

_producers: dict[str, Producer] = {}


def _producer(kafka: KafkaSettings) -> Producer:
    if kafka.bootstrap_servers not in _producers:
        _producers[kafka.bootstrap_servers] = Producer(producer_config(kafka))
    return _producers[kafka.bootstrap_servers]


def publish_outbox(conn: psycopg.Connection, kafka: KafkaSettings, limit: int = 5000) -> int:
    """Publish up to ``limit`` queued records; rows another publisher holds are skipped."""
    with conn.transaction():
        rows = conn.execute(
            "select id, tenant_id, payload from score_outbox order by id limit %s for update skip locked",
            [limit],
        ).fetchall()
        if not rows:
            return 0
        producer = _producer(kafka)
        topic = topic_name(kafka, "engagement-scores")
        failures: list[str] = []
        for _, tenant, payload in rows:
            producer.produce(
                topic,
                key=tenant.encode(),
                value=json.dumps(payload, sort_keys=True).encode(),
                on_delivery=lambda err, _m: failures.append(err.str()) if err else None,
            )
        undelivered = producer.flush(30)
        if failures or undelivered:
            # Nothing is deleted: the rows stay queued and the next batch publishes them again.
            reason = failures[0] if failures else f"{undelivered} records not acknowledged within 30 s"
            raise LogError(f"publishing scores failed: {reason}; they stay queued")
        conn.execute("delete from score_outbox where id = any(%s)", [[r[0] for r in rows]])
    return len(rows)
