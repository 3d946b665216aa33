"""The sequencer against the real broker: dead letters, forwarding, partitioner, tampering."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Producer

from events.chain import jcs
from events.inbox import InboxWriter
from events.kafka import producer_config
from events.partitioning import partition_for
from events.reader import read_to_end
from events.topics import TopicSpec, bootstrap_topics, topic_name
from events.verify import verify_log
from schemas.examples import cloud_event
from skillmind.settings import Settings
from tests.integration.logtools import log_records, running_sequencer, wait_drained


def _created(tenant: str) -> dict:
    return cloud_event("tenant.created", {"tenant_id": tenant, "name": tenant}, tenant=tenant)


def test_garbage_goes_to_dead_letters_and_never_stops_the_sequencer(log_settings: Settings) -> None:
    inbox = topic_name(log_settings.kafka, "inbox")
    producer = Producer(producer_config(log_settings.kafka))
    garbage = [
        b"\xff\xfe not json",
        b"[1,2,3]",
        b'{"specversion":"1.0"}',
        jcs(cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="nobody")),
    ]
    for value in garbage:
        producer.produce(inbox, key=b"acme", value=value)
    producer.flush(10)
    writer = InboxWriter(log_settings.kafka)
    writer.append([_created("acme"), cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme")])
    writer.close()

    with running_sequencer(log_settings) as counters:
        wait_drained(log_settings)
    assert counters.dead_lettered == 4 and counters.appended == 2
    assert [r["type"] for r in log_records(log_settings)] == ["tenant.created", "learner.signed_in"]

    acme_partition = partition_for("acme", log_settings.kafka.partitions)
    # Dead letters are keyed by tenant when one is known, so they spread over partitions.
    letters = sorted(
        log_records(log_settings, "dead-letter"),
        key=lambda d: (d["source"]["partition"] != acme_partition, d["source"]["offset"]),
    )
    assert [base64.b64decode(d["original_base64"]) for d in letters] == garbage
    assert letters[0]["problems"][0]["rule"] == "json_invalid"
    assert letters[1]["problems"][0]["rule"] == "object_type"
    assert {p["field"] for p in letters[2]["problems"]} >= {"id", "source", "type", "tenantid"}
    assert letters[3]["problems"][0]["rule"] == "unknown_tenant" and letters[3]["tenantid"] == "nobody"
    assert all(d["source"]["topic"] == topic_name(log_settings.kafka, "inbox") for d in letters)
    assert all(isinstance(d["source"]["offset"], int) for d in letters)


def test_librdkafka_murmur2_partitioner_agrees_with_ours(log_settings: Settings) -> None:
    inbox = topic_name(log_settings.kafka, "inbox")
    producer = Producer(producer_config(log_settings.kafka))
    placed: dict[str, int] = {}
    for n in range(60):
        key = f"tenant-{n}"
        producer.produce(
            inbox,
            key=key.encode(),
            value=b"{}",
            on_delivery=lambda err, msg: placed.__setitem__(msg.key().decode(), msg.partition()),
        )
    producer.flush(10)
    assert placed == {k: partition_for(k, log_settings.kafka.partitions) for k in placed}


def test_misrouted_records_are_forwarded_to_their_owner(log_settings: Settings) -> None:
    inbox = topic_name(log_settings.kafka, "inbox")
    owner = partition_for("acme", log_settings.kafka.partitions)
    wrong = (owner + 1) % log_settings.kafka.partitions
    producer = Producer(producer_config(log_settings.kafka))
    created = _created("acme")
    signin = cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme")
    producer.produce(inbox, key=b"acme", value=jcs(created), partition=owner)
    producer.produce(inbox, key=b"x", value=jcs(signin), partition=wrong)
    producer.flush(10)
    with running_sequencer(log_settings) as counters:
        deadline = time.monotonic() + 30
        while counters.appended < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert counters.forwarded == 1
    records = log_records(log_settings)
    assert [(r["id"], r["sequence"]) for r in records] == [(created["id"], 1), (signin["id"], 2)]


def test_tampering_with_a_copy_of_the_log_is_located(log_settings: Settings) -> None:
    writer = InboxWriter(log_settings.kafka)
    writer.append(
        [_created("acme"), _created("beta")]
        + [
            cloud_event("learner.signed_in", {"learner_id": f"l{i}"}, tenant=t)
            for i in range(20)
            for t in ("acme", "beta")
        ]
    )
    writer.close()
    with running_sequencer(log_settings):
        wait_drained(log_settings)

    log_topic = topic_name(log_settings.kafka, "log")
    copy = topic_name(log_settings.kafka, "log-copy")
    bootstrap_topics(log_settings.kafka, [TopicSpec(copy, log_settings.kafka.partitions, 1)])
    producer = Producer(producer_config(log_settings.kafka))
    for msg in read_to_end(log_settings.kafka, log_topic):
        record = json.loads(msg.value())
        if record["tenantid"] == "beta" and record["sequence"] == 7:
            record["data"]["learner_id"] = "someone-else"  # the tamper
        producer.produce(copy, key=msg.key(), value=jcs(record), partition=msg.partition())
    producer.flush(10)

    assert verify_log(log_settings.kafka, log_topic).ok
    result = verify_log(log_settings.kafka, copy)
    assert not result.ok
    assert (result.broken.tenant, result.broken.sequence) == ("beta", 7)
    assert result.topic == copy and result.partition == partition_for("beta", log_settings.kafka.partitions)

    env = {**os.environ, "SKILLMIND_KAFKA__TOPIC_PREFIX": log_settings.kafka.topic_prefix}
    cli = subprocess.run(
        [sys.executable, "-m", "skillmind.cli", "audit", "verify", "--topic", copy],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 1
    assert "chain broken for tenant beta at sequence 7" in cli.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "skillmind.cli", "audit", "verify", "--tenant", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "verified 21 records of 1 tenant" in ok.stdout
