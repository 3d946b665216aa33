"""The real broker gives us what the log relies on: idempotent acks=all appends,
per-key order for a consumer group, and invisible aborted transactions."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer

from events.topics import TopicSpec, bootstrap_topics, topic_name
from skillmind.settings import Settings


def _topic(settings: Settings, name: str = "probe") -> str:
    topic = topic_name(settings.kafka, name)
    bootstrap_topics(settings.kafka, [TopicSpec(topic, 3, 1)])
    return topic


def _consume_all(settings: Settings, topic: str, expected: int, **extra: str) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )
    consumer.subscribe([topic])
    records, idle = [], 0
    try:
        while len(records) < expected and idle < 20:
            batch = consumer.consume(500, timeout=0.5)
            idle = idle + 1 if not batch else 0
            for msg in batch:
                assert msg.error() is None, msg.error()
                records.append(msg)
        # Drain a little longer: records beyond `expected` would be a bug too.
        records.extend(m for m in consumer.consume(500, timeout=1.0) if m.error() is None)
    finally:
        consumer.close()
    return records


def test_idempotent_producer_appends_and_group_reads_in_order_per_key(isolated_settings: Settings) -> None:
    topic = _topic(isolated_settings)
    producer = Producer(
        {
            "bootstrap.servers": isolated_settings.kafka.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    keys = [f"tenant-{i}" for i in range(5)]
    delivered = []
    for n in range(200):
        key = keys[n % len(keys)]
        producer.produce(
            topic, key=key, value=f"{key}:{n}".encode(), on_delivery=lambda err, msg: delivered.append(err)
        )
    assert producer.flush(30) == 0
    assert delivered == [None] * 200

    records = _consume_all(isolated_settings, topic, 200)
    assert len(records) == 200
    per_key: dict[str, list[int]] = {}
    for msg in records:
        per_key.setdefault(msg.key().decode(), []).append(int(msg.value().decode().split(":")[1]))
    for key, numbers in per_key.items():
        assert numbers == sorted(numbers), f"{key} out of order"
        assert len(numbers) == 40


def test_aborted_transaction_is_invisible_to_read_committed(isolated_settings: Settings) -> None:
    topic = _topic(isolated_settings, "txn")
    producer = Producer(
        {
            "bootstrap.servers": isolated_settings.kafka.bootstrap_servers,
            "transactional.id": f"test-{uuid.uuid4().hex}",
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for n in range(10):
        producer.produce(topic, key="k", value=f"aborted-{n}".encode())
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    for n in range(5):
        producer.produce(topic, key="k", value=f"committed-{n}".encode())
    producer.commit_transaction(30)

    committed = _consume_all(isolated_settings, topic, 5, **{"isolation.level": "read_committed"})
    assert [m.value().decode() for m in committed] == [f"committed-{n}" for n in range(5)]
    # The aborted records are physically in the log; only read_committed hides them.
    everything = _consume_all(isolated_settings, topic, 15, **{"isolation.level": "read_uncommitted"})
    assert sum(m.value().startswith(b"aborted") for m in everything) == 10
