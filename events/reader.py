"""Read a topic (or some partitions of it) from an offset up to its current end.

Used by recovery, ``audit verify`` and replays. ``read_committed``: records of
aborted or still-open transactions are never seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from events.errors import LogError
from events.kafka import consumer_config
from skillmind.settings import KafkaSettings


def partitions_of(kafka: KafkaSettings, topic: str, timeout_s: float = 10.0) -> list[int]:
    consumer = Consumer(consumer_config(kafka))
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    finally:
        consumer.close()
    if metadata is None or metadata.error is not None:
        raise LogError(f"topic {topic!r} does not exist; run `skillmind bootstrap`.")
    return sorted(metadata.partitions)


def read_to_end(
    kafka: KafkaSettings,
    topic: str,
    partitions: Iterable[int] | None = None,
    *,
    start_offset: int | Mapping[int, int] = OFFSET_BEGINNING,
    batch_size: int = 2000,
) -> Iterator[Message]:
    """Yield every committed record of the partitions, in offset order per partition, then stop.
    ``start_offset`` is one offset for every partition or one per partition."""
    wanted = list(partitions) if partitions is not None else partitions_of(kafka, topic)
    starts = start_offset if isinstance(start_offset, Mapping) else dict.fromkeys(wanted, start_offset)
    # The end of a partition is seen when a fetch comes back empty, after the broker has
    # waited ``fetch.wait.max.ms`` for data (500 ms by default): a reader of the past need not wait.
    consumer = Consumer(consumer_config(kafka, None, **{"enable.partition.eof": True, "fetch.wait.max.ms": 10}))
    try:
        pending = {p for p in wanted if not _nothing_after(consumer, topic, p, starts[p])}
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in pending])
        while pending:
            # consume() waits out its timeout unless ``batch_size`` records come: a short one,
            # or the end of a partition's last few records costs a whole second each time.
            for msg in consumer.consume(batch_size, timeout=0.1):
                err = msg.error()
                if err is None:
                    yield msg
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                else:
                    raise LogError(f"reading {topic}[{msg.partition()}] failed: {err.str()}")
    except KafkaException as err:
        raise LogError(f"reading {topic} failed: {err}") from err
    finally:
        consumer.close()


def _nothing_after(consumer: Consumer, topic: str, partition: int, start: int) -> bool:
    """True when the partition holds no record at or after ``start`` (an offset, or the
    beginning): one round trip instead of waiting for an empty fetch to say so."""
    if start < 0 and start != OFFSET_BEGINNING:
        return False
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    return max(start, low) >= high
