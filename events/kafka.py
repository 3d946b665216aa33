"""confluent-kafka configuration shared by every producer and consumer of the log."""

from __future__ import annotations

import logging
from typing import Any

from skillmind.settings import KafkaSettings

_librdkafka_log = logging.getLogger("librdkafka")


def producer_config(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """Idempotent, acks=all, keyed like Java clients (murmur2) so every writer agrees on partitions."""
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "compression.type": "lz4",
        "logger": _librdkafka_log,
        **extra,
    }


def consumer_config(kafka: KafkaSettings, group_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """Committed data only (``read_committed``), manual offset management."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "logger": _librdkafka_log,
        **extra,
    }
    # A consumer without a group (replay, verify, recovery) still needs an id for librdkafka.
    config["group.id"] = group_id or "skillmind-reader"
    return config
