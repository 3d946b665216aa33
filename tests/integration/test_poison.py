"""Issue 8: no record stops the pipeline. Each poison kind goes in through each door — HTTP,
the inbox (an upstream producer), and the log topic itself (a producer that bypassed the
sequencer) — while the whole pipeline runs. Other tenants keep folding, the quarantine names
each record the fold set aside, readiness stays honest, and a replay gives the live checksums."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from events.chain import GENESIS_HASH, jcs
from events.kafka import producer_config
from events.partitioning import partition_for
from events.topics import topic_name
from projections.rebuild import checksums, rebuild
from schemas.envelope import BATCH_CONTENT_TYPE
from schemas.envelope import CONTENT_TYPE as CE_CONTENT_TYPE
from schemas.examples import EXAMPLE_DATA, cloud_event
from skillmind.settings import Settings
from tests.integration.logtools import log_records
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    bearer,
    quarantine_rows,
    running_pipeline,
    seed_history,
    wait_until,
)


def _event(kind: str, data: dict[str, Any], tenant: str = "acme", event_id: str = "poison") -> dict[str, Any]:
    return cloud_event(kind, data, tenant=tenant, event_id=event_id, time=datetime.now(UTC).replace(microsecond=0))


def _forged(tenant: str, sequence: int, kind: str, data: dict[str, Any], event_id: str) -> bytes:
    """A log record written around the sequencer: well-formed envelope, chosen sequence."""
    record = {
        **_event(kind, data, tenant, event_id),
        "sequence": sequence,
        "appendedat": "2026-11-01T00:00:00Z",
        "prevhash": GENESIS_HASH,
        "hash": "a" * 64,
    }
    return jcs(record)


def _produce(settings: Settings, topic: str, tenant: str, values: list[bytes]) -> None:
    producer = Producer(producer_config(settings.kafka))
    for value in values:
        partition = partition_for(tenant, settings.kafka.partitions)
        producer.produce(topic, key=tenant.encode(), value=value, partition=partition)
    assert producer.flush(30) == 0


def _http_poison(client: Any, settings: Settings) -> None:
    admin = bearer(settings, "acme", "admin-1", "company_admin")
    user = {"user_id": "u-nul", "display_name": "Nul", "email": "nul\u0000@acme.example", "roles": ["learner"]}
    refused = client.post("/v1/users", headers=admin, json=user)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "data.email" in refused.text and "control_character" in refused.text

    phases = {"int4": 2**31, "beyond_jcs": 2**53 + 1}
    batch = [
        _event("phase.advanced", {**EXAMPLE_DATA["phase.advanced"], "phase": v}, event_id=f"phase-{k}")
        for k, v in phases.items()
    ]
    lone = json.dumps([*batch, _event("learner.signed_in", {"learner_id": "l\ud800"}, event_id="lone")])
    root = bearer(settings, "acme", "root", "platform_admin")
    response = client.post("/v1/events", headers={**root, "Content-Type": BATCH_CONTENT_TYPE}, content=lone.encode())
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 3
    assert [r["problems"][0]["field"] for r in results] == ["data.phase", "data.phase", "data.learner_id"]
    assert [r["problems"][0]["rule"] for r in results] == ["less_than_equal", "integer_range", "lone_surrogate"]


def _inbox_poison(settings: Settings) -> int:
    valid = _event("learner.signed_in", {"learner_id": "l1"})
    values = [
        b"\xff\xfe not utf-8",
        json.dumps({**valid, "id": "nan"}).replace('"l1"', "NaN").encode(),
        json.dumps(_event("phase.advanced", {**EXAMPLE_DATA["phase.advanced"], "phase": 2**53}, "acme", "b")).encode(),
        json.dumps(_event("learner.signed_in", {"learner_id": "l\u0000"}, event_id="nul")).encode(),
        b'{"id": "\\udc00", "tenantid": "acme"}',
        # 3,000 levels deep: its dead letter once killed the API's log tail (RecursionError)
        b'{"id": "deep", "tenantid": "acme", "data": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ]
    _produce(settings, topic_name(settings.kafka, "inbox"), "acme", values)
    return len(values)


LOG_POISON_RULES = {
    "json_invalid",
    "object_type",
    "control_character",
    "sequence_gap",
    "unknown_type",
    "less_than_equal",
    "sequence_replayed",
    "no_position",
    "role_not_grantable",
}
LOG_POISON_RECORDS = len(LOG_POISON_RULES) + 1  # two records have no usable position


def _log_poison(settings: Settings) -> None:
    log_topic = topic_name(settings.kafka, "log")
    _produce(settings, log_topic, "rogue", [b"\x00garbage", b"[1, 2]"])
    _produce(
        settings,
        log_topic,
        "rogue",
        [
            _forged("rogue", 1, "tenant.created", {"tenant_id": "rogue", "name": "R\u0000"}, "r1"),
            _forged("rogue", 5, "learner.signed_in", {"learner_id": "l"}, "r5"),
        ],
    )
    _produce(settings, log_topic, "rogue2", [_forged("rogue2", 1, "mystery.happened", {"x": 1}, "m1")])
    phase = {**EXAMPLE_DATA["phase.advanced"], "phase": 2**31}
    _produce(settings, log_topic, "rogue3", [_forged("rogue3", 1, "phase.advanced", phase, "p1")])
    _produce(settings, log_topic, "acme", [_forged("acme", 1, "learner.signed_in", {"learner_id": "l"}, "again")])
    # Positions no positions table can hold: a tenant id with U+0000, a sequence beyond bigint.
    _produce(
        settings,
        log_topic,
        "rogue4",
        [b'{"tenantid": "a\\u0000b", "sequence": 1}', b'{"tenantid": "r", "sequence": 9223372036854775808}'],
    )
    grant = {"user_id": "u1", "role": "platform_admin"}
    _produce(settings, log_topic, "rogue5", [_forged("rogue5", 1, "role.granted", grant, "g1")])


def _status(client: Any, headers: dict[str, str], event: dict[str, Any]) -> str:
    response = client.post("/v1/events", headers=headers, json=event)
    assert response.status_code == 202, response.text
    return str(response.json()["results"][0]["status"])


def test_no_record_stops_the_pipeline(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    with running_pipeline(settings), api_client(settings) as client:
        root_headers = {**bearer(settings, "acme", "root", "platform_admin"), "Content-Type": CE_CONTENT_TYPE}
        seed_history(client, settings)
        _http_poison(client, settings)
        sent = _inbox_poison(settings)
        _log_poison(settings)

        dead = wait_until(
            "the inbox poison in the dead letters",
            lambda: (d := log_records(settings, "dead-letter")) and len(d) >= sent and d,
        )
        rules = {problem["rule"] for letter in dead for problem in letter["problems"]}
        assert {"json_invalid", "integer_range", "control_character", "lone_surrogate"} <= rules
        quarantined = wait_until(
            "every log poison in the quarantine",
            lambda: (rows := quarantine_rows(settings)) and len(rows) >= LOG_POISON_RECORDS and rows,
        )
        assert len(quarantined) == LOG_POISON_RECORDS
        assert {r["rule"] for r in quarantined} == LOG_POISON_RULES
        by_rule = {r["rule"]: r for r in quarantined}
        assert by_rule["sequence_gap"]["tenant_id"] == "rogue" and by_rule["sequence_gap"]["sequence"] == 5
        assert by_rule["sequence_replayed"]["tenant_id"] == "acme"
        assert by_rule["unknown_type"]["type"] == "mystery.happened"
        assert "\x00" not in json.dumps([r["reason"] for r in quarantined])

        # Other tenants (and the poisoned one) keep folding; readiness is honest about it.
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l0")
        ready = wait_until("ready", lambda: (r := client.get("/readyz")).status_code == 200 and r.json())
        assert ready["quarantined"] == LOG_POISON_RECORDS and ready["failing"] == []
        assert ready["log_tail"] == "ok"
        # The API's tail still answers positions and spots a repeat and a conflict.
        again = _event("learner.signed_in", {"learner_id": "acme-l0"}, event_id="after-poison")
        first = client.post("/v1/events", headers=root_headers, json=again)
        assert first.json()["results"][0]["status"] == "accepted"
        wait_until("the repeat spotted", lambda: _status(client, root_headers, again) == "duplicate")
        changed = {**again, "data": {"learner_id": "acme-l1"}}
        assert _status(client, root_headers, changed) == "conflict"

    live = checksums(settings)
    assert rebuild(settings) == live
