"""The log worker: the one primitive every consumer of the log downstream of the read
models is built on (exports, notification fan-out, and the workers that follow).

A worker takes records of the log in batches and, for each record of a type it handles,
calls its handler inside one PostgreSQL transaction per batch. The handler writes the
worker's own state and its outbox rows (``jobs.outbox.enqueue``) with the cursor it is
given — never an external effect. The same transaction records the next offset of each
partition in ``worker_positions``. Commit order, written where it happens (``_apply``):

1. for each record: skip it if below the stored offset (a redelivery); quarantine it if
   it is not a log record we can read; else run the handler in a savepoint — an error
   of the record's making rolls the savepoint back and quarantines the record;
2. store the next offsets;
3. commit; only then are the outbox rows visible to the dispatcher, which carries the
   effects out with retries (``jobs.outbox``).

A crash before the commit leaves nothing behind (Kafka redelivers); after it, the stored
offsets make a redelivery a no-op. Database outages (``OperationalError``) are not the
record's fault: they fail the batch and the supervisor restarts the worker. Quarantine
choices depend on the record alone, so a replay quarantines the same records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from confluent_kafka import Consumer, Message, TopicPartition

from events.kafka import consumer_config
from events.topics import topic_name
from projections.runner import LogMessage, quarantine_row
from schemas.validation import Invalid, Problem, validate_log_record
from skillmind.settings import Settings

log = structlog.get_logger(__name__)

Handler = Callable[[psycopg.Cursor, dict[str, Any]], None]
# Takes every new message of a batch, readable or not, as Kafka holds it (the archiver).
BatchHandler = Callable[[psycopg.Cursor, Sequence[LogMessage]], None]
# Errors of the record's making (deterministic): quarantine it. Anything else fails the batch.
RECORD_FAULTS = (
    psycopg.errors.DataError,
    psycopg.errors.IntegrityError,
    ArithmeticError,
    LookupError,
    ValueError,
    TypeError,
)


@dataclass
class WorkerOutcome:
    handled: int = 0
    passed: int = 0  # types this worker does not handle
    skipped: int = 0  # redeliveries
    quarantined: int = 0


@dataclass
class LogWorker:
    """Run ``handler`` on every log record whose type is in ``types``, exactly once.

    ``take_batch``, when given, instead receives every message of a batch that is not a
    redelivery — no type filter, no validation, no quarantine — in the same transaction:
    for a worker that keeps the log as it is (the archiver). Its errors fail the batch.
    """

    name: str
    settings: Settings
    types: frozenset[str]
    handler: Handler
    batch_size: int = 500
    database: str | None = None
    counters: WorkerOutcome = field(default_factory=WorkerOutcome)
    take_batch: BatchHandler | None = None

    def __post_init__(self) -> None:
        self.topic = topic_name(self.settings.kafka, "log")
        self.conn = psycopg.connect(self.settings.postgres.conninfo(self.database), autocommit=True)

    # -- the batch, in one transaction ------------------------------------------------

    def apply(self, messages: Sequence[LogMessage]) -> WorkerOutcome:
        """Handle a batch in one transaction (see the module docstring for the order)."""
        outcome = WorkerOutcome()
        with self.conn.transaction(), self.conn.cursor() as cur:
            stored = self.stored_offsets(cur)
            next_offsets: dict[int, int] = {}
            fresh = []
            for message in messages:
                if message.offset < stored.get(message.partition, 0):
                    outcome.skipped += 1
                    continue
                next_offsets[message.partition] = message.offset + 1
                fresh.append(message)
            if self.take_batch is not None:
                self.take_batch(cur, fresh)
                outcome.handled += len(fresh)
            else:
                for message in fresh:
                    self._take(cur, message, outcome)
            cur.executemany(
                "insert into worker_positions (worker, topic, partition, next_offset) values (%s, %s, %s, %s) "
                "on conflict (worker, topic, partition) do update set "
                "next_offset = greatest(excluded.next_offset, worker_positions.next_offset)",
                [(self.name, self.topic, p, o) for p, o in next_offsets.items()],
            )
        for name in ("handled", "passed", "skipped", "quarantined"):
            setattr(self.counters, name, getattr(self.counters, name) + getattr(outcome, name))
        return outcome

    def _take(self, cur: psycopg.Cursor, message: LogMessage, outcome: WorkerOutcome) -> None:
        record = message.record
        if record is None:
            self._quarantine(cur, message, message.problem or Problem("$", "json_invalid", "not JSON"), outcome)
            return
        if record.get("type") not in self.types:
            outcome.passed += 1
            return
        judged = validate_log_record(record)
        if isinstance(judged, Invalid):
            self._quarantine(cur, message, judged.problems[0], outcome)
            return
        try:
            with cur.connection.transaction():  # a savepoint: a failed record leaves no trace
                self.handler(cur, record)
            outcome.handled += 1
        except RECORD_FAULTS as err:
            self._quarantine(cur, message, Problem("$", "handler_failed", f"{type(err).__name__}: {err}"), outcome)

    def _quarantine(self, cur: psycopg.Cursor, message: LogMessage, problem: Problem, outcome: WorkerOutcome) -> None:
        row = {"worker": self.name, **quarantine_row(message, problem)}
        log.warning("worker.quarantined", **row)
        cur.execute(
            "insert into worker_quarantine (worker, log_partition, log_offset, tenant_id, sequence, record_id, type, "
            "rule, reason) values (%(worker)s, %(log_partition)s, %(log_offset)s, %(tenant_id)s, %(sequence)s, "
            "%(record_id)s, %(type)s, %(rule)s, %(reason)s) on conflict do nothing",
            row,
        )
        outcome.quarantined += 1

    def stored_offsets(self, cur: psycopg.Cursor | None = None) -> dict[int, int]:
        query = "select partition, next_offset from worker_positions where worker = %s and topic = %s"
        rows = (cur or self.conn).execute(query, [self.name, self.topic]).fetchall()
        return dict(rows)  # type: ignore[arg-type, unused-ignore]

    # -- the consumer loop -------------------------------------------------------------

    def run(self, stop: threading.Event, on_batch: Callable[[], None] | None = None) -> WorkerOutcome:
        """Consume until ``stop``; positions come from PostgreSQL, never from Kafka commits."""
        group = f"{self.settings.kafka.topic_prefix}.worker.{self.name}"
        consumer = Consumer(consumer_config(self.settings.kafka, group))

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            stored = self.stored_offsets()
            c.assign([TopicPartition(tp.topic, tp.partition, stored.get(tp.partition, 0)) for tp in partitions])

        consumer.subscribe([self.topic], on_assign=on_assign)
        try:
            while not stop.is_set():
                batch = [m for m in consumer.consume(self.batch_size, timeout=0.5) if _usable(m)]
                if batch:
                    self.apply(_parsed(batch))
                    if on_batch:
                        on_batch()
        finally:
            consumer.close()
            self.conn.close()
        return self.counters


def _usable(message: Message) -> bool:
    error = message.error()
    if error is not None and error.fatal():
        raise RuntimeError(f"fatal consumer error: {error.str()}")
    return error is None


def _parsed(messages: Iterable[Message]) -> list[LogMessage]:
    return [LogMessage.parse(m.partition() or 0, m.offset() or 0, m.value()) for m in messages]
