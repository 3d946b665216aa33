from __future__ import annotations

from events.topics import AUDIT_SAFE_CONFIG, catalogue, topic_name
from projections.migrate import discover
from skillmind.settings import KafkaSettings


def test_catalogue_names_and_audit_safe_settings() -> None:
    kafka = KafkaSettings(partitions=6)
    names = [spec.name for spec in catalogue(kafka)]
    assert names == [
        "skillmind.inbox.v1",
        "skillmind.log.v1",
        "skillmind.dead-letter.v1",
        "skillmind.engagement-scores.v1",
    ]
    for spec in catalogue(kafka):
        assert spec.partitions == 6
        assert spec.config["retention.ms"] == "-1"
        assert spec.config["cleanup.policy"] == "delete"
        assert spec.config["message.timestamp.type"] == "LogAppendTime"
    assert topic_name(KafkaSettings(topic_prefix="t1"), "log", 2) == "t1.log.v2"
    assert AUDIT_SAFE_CONFIG["retention.bytes"] == "-1"


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in discover()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(m.sql.strip() for m in discover())


def test_three_replicas_take_two_in_sync_for_a_write() -> None:
    from events.topics import min_insync_replicas

    assert [min_insync_replicas(rf) for rf in (1, 2, 3, 5)] == [1, 1, 2, 2]
