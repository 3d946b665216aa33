"""The live projection processor and the rebuild, both around ``ReadModelWriter``.

Live (``skillmind run projections``): a consumer group on the log; on assignment the
consumer seeks to the offsets stored in the read-model schema (PostgreSQL is the
truth, Kafka's committed offsets are ignored); each batch is one transaction; after
it, queued scores are published from the outbox.

Rebuild (``skillmind replay``): the same writer into a fresh schema from offset zero,
then an atomic swap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import psycopg
import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from psycopg import sql

from events.errors import LogError
from events.kafka import consumer_config
from events.reader import read_to_end
from events.topics import topic_name
from jobs.publisher import publish_outbox
from projections.runner import (
    READ_MODEL_SCHEMA,
    LogMessage,
    ReadModelWriter,
    create_schema,
    ensure_schema,
    stored_offsets,
    swap_in,
)
from projections.store import table_checksums
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class ProcessorCounters:
    applied: int = 0
    skipped: int = 0
    rewinds: int = 0
    published: int = 0
    batches: int = 0


def _parse(messages: list[Message]) -> list[LogMessage]:
    return [LogMessage.parse(m.partition(), m.offset(), m.value()) for m in messages if m.error() is None]


@dataclass
class ProjectionProcessor:
    settings: Settings
    instance_id: str = "0"
    batch_size: int = 5000
    database: str | None = None
    counters: ProcessorCounters = field(default_factory=ProcessorCounters)

    def __post_init__(self) -> None:
        self.topic = topic_name(self.settings.kafka, "log")
        self.group = f"{self.settings.kafka.topic_prefix}.projections"
        self.conn = psycopg.connect(self.settings.postgres.conninfo(self.database), autocommit=True)
        ensure_schema(self.conn)
        self.writer = ReadModelWriter(self.conn, self.topic)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        stored = stored_offsets(self.conn, READ_MODEL_SCHEMA, self.topic)
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)
        log.info(
            "projections.assigned",
            topic=self.topic,
            partitions={tp.partition: tp.offset for tp in partitions},
        )

    def run(self, stop: threading.Event) -> ProcessorCounters:
        consumer = Consumer(
            consumer_config(
                self.settings.kafka,
                self.group,
                **{"group.instance.id": f"{self.group}.{self.instance_id}", "session.timeout.ms": 10000},
            )
        )
        consumer.subscribe([self.topic], on_assign=self._on_assign)
        try:
            while not stop.is_set():
                batch = _parse(consumer.consume(self.batch_size, timeout=0.2))
                if batch:
                    self._apply(consumer, batch)
                self.counters.published += publish_outbox(self.conn, self.settings.kafka)
        finally:
            consumer.close()
            self.conn.close()
        return self.counters

    def _apply(self, consumer: Consumer, batch: list[LogMessage]) -> None:
        outcome = self.writer.apply(batch)
        self.counters.applied += outcome.applied
        self.counters.skipped += outcome.skipped
        self.counters.batches += 1
        for partition, offset in outcome.rewind.items():
            # The schema was swapped for a rebuild that stands elsewhere in the log.
            consumer.seek(TopicPartition(self.topic, partition, offset or OFFSET_BEGINNING))
            self.counters.rewinds += 1
            log.info("projections.rewound", topic=self.topic, partition=partition, offset=offset)


def _chunks(messages: Iterator[Message], size: int) -> Iterator[list[Message]]:
    while chunk := list(islice(messages, size)):
        yield chunk


def rebuild(
    settings: Settings,
    *,
    database: str | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Replay the whole log into a fresh schema, swap it in atomically, return its checksums."""
    topic = topic_name(settings.kafka, "log")
    target = f"{READ_MODEL_SCHEMA}_rebuild"
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(target)))
        create_schema(conn, target)
        writer = ReadModelWriter(conn, topic, schema=target, publish=False)
        for chunk in _chunks(read_to_end(settings.kafka, topic), batch_size):
            outcome = writer.apply(_parse(chunk))
            if outcome.rewind:
                raise LogError(
                    f"the log has a sequence gap at partitions {sorted(outcome.rewind)}; "
                    "run `skillmind audit verify`"
                )
            if progress:
                progress(len(chunk))
        swap_in(conn, target)
        return table_checksums(conn, READ_MODEL_SCHEMA)


def checksums(settings: Settings, *, database: str | None = None) -> dict[str, str]:
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        return table_checksums(conn, READ_MODEL_SCHEMA)
