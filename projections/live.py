"""The live projection processor: a faust-streaming agent around ``ReadModelWriter``.

The agent takes the log in batches (``stream.take_events``) and hands each batch to
the same writer the rebuild uses, in a worker thread (psycopg is blocking). faust's
own offset commits are not relied on: PostgreSQL holds the positions. On assignment
the consumer seeks to them; a batch that finds a tenant's sequence ahead of the
stored one (faust resumed too far, or a rebuild was swapped in) makes the agent seek
back to the stored offset. faust reads ``read_committed`` only in its exactly-once
mode, which we do not use, so the consumer is switched to ``read_committed`` here:
records of aborted transactions must never reach a read model.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import psycopg
import structlog
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from events.errors import LogError
from events.publisher import publish_outbox
from events.topics import topic_name
from projections.keyring import Keyring
from projections.runner import (
    READ_MODEL_SCHEMA,
    LogMessage,
    ReadModelWriter,
    ensure_schema,
    stored_offsets,
)
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka passes this to its fetcher when the consumer starts.
        consumer._isolation_level = "read_committed"
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    # faust builds its consumer thread here (there is no class attribute to set): without this
    # the thread above is never used and aborted sequencer transactions reach the read models.
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


TRANSPORTS.aliases["skillmind-kafka"] = f"{__name__}:_Transport"


@dataclass
class LiveCounters:
    applied: int = 0
    skipped: int = 0
    rewinds: int = 0
    published: int = 0
    batches: int = 0
    quarantined: int = 0


@dataclass
class LiveProjections:
    settings: Settings
    instance_id: str = "0"
    database: str | None = None
    batch_size: int = 5000
    on_batch: Callable[[], None] | None = None  # called after each applied batch (progress)
    counters: LiveCounters = field(default_factory=LiveCounters)
    failure: BaseException | None = None

    def __post_init__(self) -> None:
        kafka = self.settings.kafka
        self.topic_name = topic_name(kafka, "log")
        group = f"{kafka.topic_prefix}.projections"
        self.conn = psycopg.connect(self.settings.postgres.conninfo(self.database), autocommit=True)
        ensure_schema(self.conn)
        self.writer = ReadModelWriter(self.conn, self.topic_name, keyring=Keyring(self.settings.privacy.kek_bytes()))
        self.app = faust.App(
            group,
            broker=f"skillmind-kafka://{kafka.bootstrap_servers}",
            consumer_group_instance_id=f"{group}.{self.instance_id}",
            consumer_auto_offset_reset="earliest",
            topic_allow_declare=False,
            topic_disable_leader=True,
            web_enabled=False,
            autodiscover=False,
            store="memory://",
            broker_max_poll_records=self.batch_size,
            stream_wait_empty=False,
        )
        self.topic = self.app.topic(self.topic_name, value_type=bytes, value_serializer="raw", key_serializer="raw")
        self.app.agent(self.topic, name="projections")(self._agent)
        self.app.on_partitions_assigned.connect(self._seek_to_stored)  # type: ignore[arg-type]

    async def _seek_to_stored(self, app: faust.App, assigned: set[TP], **_: Any) -> None:
        stored = await asyncio.to_thread(stored_offsets, self.conn, READ_MODEL_SCHEMA, self.topic_name)
        for tp in assigned:
            if tp.topic == self.topic_name and tp.partition in stored:
                await app.consumer.seek(tp, stored[tp.partition])

    async def _agent(self, stream: faust.StreamT[Any]) -> None:
        try:
            async for events in stream.take_events(self.batch_size, within=0.2):  # type: ignore[attr-defined]
                await self._apply(events)
        except Exception as err:
            # A crashed agent would leave the process up but idle: stop it, so the failure
            # is seen and the process restarted (where it resumes from PostgreSQL's positions).
            log.error("projections.crashed", error=repr(err))
            self.failure = err
            raise

    async def _apply(self, events: Sequence[faust.EventT[Any]]) -> None:
        batch = [LogMessage.parse(e.message.partition, e.message.offset, e.value) for e in events]
        outcome = await asyncio.to_thread(self.writer.apply, batch)
        self.counters.applied += outcome.applied
        self.counters.skipped += outcome.skipped
        self.counters.quarantined += outcome.quarantined
        self.counters.batches += 1
        for partition, offset in outcome.rewind.items():
            self.counters.rewinds += 1
            log.info("projections.rewound", topic=self.topic_name, partition=partition, offset=offset)
            await self.app.consumer.seek(TP(self.topic_name, partition), offset)
        try:
            self.counters.published += await asyncio.to_thread(publish_outbox, self.conn, self.settings.kafka)
        except LogError as err:  # the scores stay queued in the outbox; the read models go on
            log.warning("projections.publish_deferred", error=str(err))
        if self.on_batch:
            self.on_batch()

    def run(self, stop: threading.Event) -> LiveCounters:
        async def serve() -> None:
            await self.app.start()
            try:
                while not stop.is_set() and not self.app.should_stop and self.failure is None:
                    await asyncio.sleep(0.2)
            finally:
                # A crashed agent can leave faust's stop waiting on it: bound the wait, so the
                # failure reaches the supervisor (which restarts us) instead of hanging here.
                try:
                    await asyncio.wait_for(self.app.stop(), timeout=30)
                except TimeoutError:
                    log.error("projections.stop_timed_out")

        logging.getLogger("faust").setLevel(logging.WARNING)
        try:
            asyncio.run(serve())
        finally:
            self.conn.close()
        if self.failure is not None:
            raise self.failure
        return self.counters
