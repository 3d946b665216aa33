from __future__ import annotations

from events.topics import AUDIT_SAFE_CONFIG, TopicSpec, admin_client, bootstrap_topics, catalogue
from skillmind.settings import Settings


def test_bootstrap_creates_audit_safe_topics_once(isolated_settings: Settings) -> None:
    first = bootstrap_topics(isolated_settings.kafka)
    assert [r.created for r in first] == [True] * len(catalogue(isolated_settings.kafka))
    second = bootstrap_topics(isolated_settings.kafka)
    assert [(r.created, r.drift) for r in second] == [(False, ())] * len(second)


def test_bootstrap_reports_drift_instead_of_ignoring_it(isolated_settings: Settings) -> None:
    (spec,) = [s for s in catalogue(isolated_settings.kafka) if s.name.endswith(".log.v1")]
    loose = TopicSpec(spec.name, 2, 1, {**AUDIT_SAFE_CONFIG, "retention.ms": "3600000"})
    bootstrap_topics(isolated_settings.kafka, [loose])

    (report,) = bootstrap_topics(isolated_settings.kafka, [spec])
    assert not report.created
    assert "partitions: has 2, settings want 3" in report.drift
    assert "retention.ms: has 3600000, audit-safe value is -1" in report.drift
    # Reported, not changed:
    topics = admin_client(isolated_settings.kafka).list_topics(timeout=10).topics
    assert len(topics[spec.name].partitions) == 2
