"""Helpers for tests of the log: run a sequencer, wait for the inbox to drain, read topics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from events.kafka import consumer_config
from events.reader import partitions_of, read_to_end
from events.sequencer import Counters, Sequencer, SequencerConfig
from events.topics import topic_name
from skillmind.settings import Settings


@contextmanager
def running_sequencer(settings: Settings, instance: str = "0", *, checkpoints: bool = False) -> Iterator[Counters]:
    """A sequencer in a thread; with ``checkpoints`` it keeps them in ``settings.postgres``."""
    stop = threading.Event()
    postgres = settings.postgres if checkpoints else None
    sequencer = Sequencer(SequencerConfig(settings.kafka, instance_id=instance, postgres=postgres))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            sequencer.run(stop)
        except BaseException as err:  # surfaced to the test below
            failure.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sequencer.counters
    finally:
        stop.set()
        thread.join(30)
    if failure:
        raise failure[0]


def inbox_drained(settings: Settings) -> bool:
    """True when no committed inbox record lies beyond the sequencer group's committed offsets.

    Offsets alone cannot tell: transaction markers (from forwarded records) occupy
    offsets too. So read from the committed offsets and see whether any record comes.
    """
    inbox = topic_name(settings.kafka, "inbox")
    group = f"{settings.kafka.topic_prefix}.sequencer"
    parts = [TopicPartition(inbox, p) for p in partitions_of(settings.kafka, inbox)]
    probe = Consumer(consumer_config(settings.kafka, group))
    try:
        committed = probe.committed(parts, timeout=10)
    finally:
        probe.close()
    start = [tp if tp.offset >= 0 else TopicPartition(inbox, tp.partition, OFFSET_BEGINNING) for tp in committed]
    reader = Consumer(consumer_config(settings.kafka, **{"enable.partition.eof": True}))
    try:
        reader.assign(start)
        pending = {tp.partition for tp in start}
        while pending:
            for msg in reader.consume(100, timeout=1.0):
                if msg.error() is None:
                    return False
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
        return True
    finally:
        reader.close()


def wait_drained(settings: Settings, timeout_s: float = 60.0) -> None:
    """Until every inbox record was sequenced (its offset committed in a sequencer transaction)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if inbox_drained(settings):
            return
        time.sleep(0.2)
    raise AssertionError(f"inbox not drained after {timeout_s}s")


def log_records(settings: Settings, name: str = "log") -> list[dict[str, Any]]:
    return [json.loads(m.value()) for m in read_to_end(settings.kafka, topic_name(settings.kafka, name))]
