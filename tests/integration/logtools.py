"""Helpers for tests of the log: run a sequencer, wait for the inbox to drain, read topics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from events.kafka import consumer_config
from events.reader import partitions_of, read_to_end
from events.sequencer import Counters, Sequencer, SequencerConfig
from events.topics import topic_name
from skillmind.settings import Settings


@contextmanager
def running_sequencer(settings: Settings, instance: str = "0") -> Iterator[Counters]:
    stop = threading.Event()
    sequencer = Sequencer(SequencerConfig(settings.kafka, instance_id=instance))
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


def inbox_lag(settings: Settings) -> int:
    """Records of the inbox the sequencer group has not committed yet."""
    inbox = topic_name(settings.kafka, "inbox")
    group = f"{settings.kafka.topic_prefix}.sequencer"
    consumer = Consumer(consumer_config(settings.kafka, group))
    try:
        parts = [TopicPartition(inbox, p) for p in partitions_of(settings.kafka, inbox)]
        committed = consumer.committed(parts, timeout=10)
        lag = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def wait_drained(settings: Settings, timeout_s: float = 60.0) -> None:
    """Until every inbox record was sequenced (offset committed in the sequencer's transaction)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # The committed offset can stop just before a transaction marker; a lag of at
        # most one per partition after the marker is "drained" for read_committed readers.
        if inbox_lag(settings) <= 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"inbox not drained after {timeout_s}s (lag {inbox_lag(settings)})")


def log_records(settings: Settings, name: str = "log") -> list[dict[str, Any]]:
    return [json.loads(m.value()) for m in read_to_end(settings.kafka, topic_name(settings.kafka, name))]
