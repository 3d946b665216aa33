"""The topic catalogue and its idempotent bootstrap.

Every topic of the log is audit-safe: nothing is ever compacted or expired by the
broker (``retention.ms=-1``), and the broker stamps append time, so a record's
Kafka timestamp says when the log accepted it, not what a client claimed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType  # type: ignore[attr-defined]

from events.errors import TopicBootstrapError
from skillmind.settings import KafkaSettings

AUDIT_SAFE_CONFIG: dict[str, str] = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "message.timestamp.type": "LogAppendTime",
    "min.insync.replicas": "1",
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=lambda: dict(AUDIT_SAFE_CONFIG))


def topic_name(kafka: KafkaSettings, name: str, version: int = 1) -> str:
    """``<prefix>.<name>.v<version>``, e.g. ``skillmind.log.v1``."""
    return f"{kafka.topic_prefix}.{name}.v{version}"


def catalogue(kafka: KafkaSettings) -> list[TopicSpec]:
    """The topics the system owns. Derived topics can always be recomputed from the log."""
    names = ["inbox", "log", "dead-letter", "engagement-scores"]
    config = {**AUDIT_SAFE_CONFIG, "min.insync.replicas": str(min_insync_replicas(kafka.replication_factor))}
    return [TopicSpec(topic_name(kafka, n), kafka.partitions, kafka.replication_factor, dict(config)) for n in names]


def min_insync_replicas(replication_factor: int) -> int:
    """2 from 3 replicas on (an acks=all write survives one broker lost, and one broker may be
    down without stopping writes); 1 below, where 2 would stop writes on any broker down."""
    return 2 if replication_factor >= 3 else 1


@dataclass(frozen=True)
class TopicReport:
    name: str
    created: bool
    drift: tuple[str, ...] = ()  # human-readable differences from the spec; never auto-fixed


def admin_client(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "logger": logging.getLogger("librdkafka.admin"),  # type: ignore[dict-item]
        }
    )


def topic_id(kafka: KafkaSettings, topic: str, timeout_s: float = 10.0) -> str:
    """Kafka's id of ``topic`` (a topic deleted and re-created under the same name gets a new one)."""
    try:
        admin = admin_client(kafka)  # kept alive until the answer: a collected client cancels it
        future = admin.describe_topics(TopicCollection([topic]))[topic]
        return str(future.result(timeout_s).topic_id)
    except KafkaException as err:
        raise TopicBootstrapError(f"cannot describe topic {topic!r}: {err}") from err


def bootstrap_topics(
    kafka: KafkaSettings, specs: list[TopicSpec] | None = None, timeout_s: float = 30.0
) -> list[TopicReport]:
    """Create missing topics; report (never silently change) settings of existing ones."""
    specs = specs if specs is not None else catalogue(kafka)
    admin = admin_client(kafka)
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
        missing = [s for s in specs if s.name not in existing]
        if missing:
            futures = admin.create_topics(
                [NewTopic(s.name, s.partitions, s.replication_factor, config=s.config) for s in missing],
                operation_timeout=timeout_s,
            )
            for future in futures.values():
                try:
                    future.result()
                except KafkaException as err:
                    if err.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent bootstrap won
                        raise
        created = {s.name for s in missing}
        if created:
            _wait_for_leaders(admin, created, timeout_s)
        reports = []
        for spec in specs:
            drift = () if spec.name in created else _drift(admin, spec, existing, timeout_s)
            reports.append(TopicReport(spec.name, spec.name in created, drift))
        return reports
    except KafkaException as err:
        raise TopicBootstrapError(
            f"topic bootstrap failed against {kafka.bootstrap_servers}: {err}; is Kafka up? (skillmind services status)"
        ) from err


def _wait_for_leaders(admin: AdminClient, topics: set[str], timeout_s: float) -> None:
    """New topics are usable once every partition has a leader; wait for that, so the
    first reader or writer does not meet NOT_LEADER_FOR_PARTITION."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=timeout_s).topics
        if all(
            name in metadata
            and metadata[name].partitions
            and all(p.leader >= 0 and p.error is None for p in metadata[name].partitions.values())
            for name in topics
        ):
            return
        time.sleep(0.1)
    raise TopicBootstrapError(f"topics {sorted(topics)} have no leader after {timeout_s:.0f}s; is the broker healthy?")


def _drift(admin: AdminClient, spec: TopicSpec, existing: dict[str, Any], timeout_s: float) -> tuple[str, ...]:
    problems = []
    partitions = len(existing[spec.name].partitions)
    if partitions != spec.partitions:
        problems.append(f"partitions: has {partitions}, settings want {spec.partitions}")
    resource = ConfigResource(ResourceType.TOPIC, spec.name)
    actual = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
    for key, want in spec.config.items():
        have = actual[key].value if key in actual else None
        if have != want:
            problems.append(f"{key}: has {have}, audit-safe value is {want}")
    return tuple(problems)


def delete_prefixed_topics(kafka: KafkaSettings, timeout_s: float = 30.0) -> list[str]:
    """Delete every topic named ``<prefix>.*`` — for the private prefixes of tests and benchmarks."""
    admin = admin_client(kafka)
    mine = [t for t in admin.list_topics(timeout=timeout_s).topics if t.startswith(kafka.topic_prefix + ".")]
    for future in admin.delete_topics(mine, operation_timeout=timeout_s).values() if mine else ():
        future.result()
    return mine
