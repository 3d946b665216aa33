"""Issue 12: the archive of the log. The archiver (a `skillmind run archiver` process) is
SIGKILLed again and again while history, garbage bytes and mutations reach the log, with
files closing every few records and every half second. In the end every log message is in
exactly one archive object and reads back exactly as Kafka holds it; a replay from the
archive gives the checksums of a replay from Kafka, also after `archive trim` deleted the
whole head of the log; the archive's chains verify; and a fresh event still reaches a report."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from events.kafka import consumer_config, producer_config
from events.partitioning import partition_for
from events.reader import read_to_end
from events.topics import topic_name
from jobs.archive_audit import verify_archive
from jobs.archive_replay import archive_keys, archive_source, message_of, read_object, read_table
from jobs.archive_trim import trim
from jobs.archiver import WORKER, Sealer
from jobs.objectstore import make_client
from jobs.snapshot import snapshot_key, take_snapshot
from projections.rebuild import rebuild
from projections.runner import LogMessage
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    post_events,
    running_pipeline,
    seed_history,
    wait_until,
)

KILLS = 6
GARBAGE = [b"\xff\xfe not json", b"[1, 2, 3]", b'{"tenantid": "acme"}']


def _archiver(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        "SKILLMIND_S3__ARCHIVE_BUCKET": settings.s3.archive_bucket,
        # Small files, closed often: kills land between seal, upload and store.
        "SKILLMIND_ARCHIVE__MAX_FILE_RECORDS": "40",
        "SKILLMIND_ARCHIVE__MAX_AGE_S": "0.5",
        "SKILLMIND_ARCHIVE__SEAL_EVERY_S": "0.2",
        "SKILLMIND_ARCHIVE__BATCH": "100",
    }
    command = [sys.executable, "-m", "skillmind.cli", "run", "archiver", "--instance", "a1"]
    log = open(os.environ.get("SKILLMIND_TEST_WORKER_LOG", os.devnull), "ab")  # noqa: SIM115
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def _produce_garbage(settings: Settings) -> None:
    producer = Producer(producer_config(settings.kafka))
    topic = topic_name(settings.kafka, "log")
    for value in GARBAGE:
        producer.produce(topic, key=b"acme", value=value, partition=partition_for("acme", settings.kafka.partitions))
    assert producer.flush(30) == 0


def _log_messages(settings: Settings) -> dict[tuple[int, int], LogMessage]:
    topic = topic_name(settings.kafka, "log")
    return {
        (m.partition(), m.offset()): LogMessage.parse(m.partition(), m.offset(), m.value())
        for m in read_to_end(settings.kafka, topic)
    }


def _archived_rows(settings: Settings) -> list[dict[str, Any]]:
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    rows = []
    for key in archive_keys(s3, bucket):
        rows.extend(read_table(read_object(s3, bucket, key)).to_pylist())
    return rows


def _taken_all(settings: Settings, messages: dict[tuple[int, int], LogMessage]) -> bool:
    last: dict[int, int] = {}
    for partition, offset in messages:
        last[partition] = max(last.get(partition, -1), offset)
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        stored = dict(conn.execute("select partition, next_offset from worker_positions where worker = %s", [WORKER]))
    return all(stored.get(p, 0) > o for p, o in last.items())


def _more_history(client: Any, settings: Settings, days_back: int) -> None:
    end = datetime.now(UTC).date() - timedelta(days=days_back)
    events = list(history(Shape(tenant="acme", programs=1, learners=6, days=2, end=end, seed=days_back)))
    assert post_events(client, settings, "acme", events)["rejected"] == 0


def _log_start(settings: Settings) -> dict[int, int]:
    topic = topic_name(settings.kafka, "log")
    consumer = Consumer(consumer_config(settings.kafka))
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0]
            for p in range(settings.kafka.partitions)
        }
    finally:
        consumer.close()


def test_sigkilled_archiver_archives_every_message_once(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    rng = random.Random(12)
    with running_pipeline(settings, ("sequencer", "projections", "scheduler")), api_client(settings) as client:
        seed_history(client, settings)
        archiver = _archiver(settings)
        try:
            for n in range(KILLS):
                _more_history(client, settings, days_back=5 + n)
                if n == 2:
                    _produce_garbage(settings)
                time.sleep(rng.uniform(0.3, 1.5))
                archiver.send_signal(signal.SIGKILL)
                archiver.wait()
                archiver = _archiver(settings)
            time.sleep(3)  # the sequencer appends the last batch
            messages = _log_messages(settings)
            wait_until("the archiver took every message", lambda: _taken_all(settings, messages), 120)
        finally:
            archiver.send_signal(signal.SIGTERM)
            archiver.wait(60)
        Sealer(settings).flush(force=True)

        rows = _archived_rows(settings)
        where = Counter((r["log_partition"], r["log_offset"]) for r in rows)
        assert set(where) == set(messages) and set(where.values()) == {1}
        assert all(message_of(r) == messages[(r["log_partition"], r["log_offset"])] for r in rows)
        assert sum(1 for r in rows if r["raw"] is not None) == 2  # the third is a JSON object: typed
        assert len([r for r in rows if r["sequence"] is None]) == len(GARBAGE)
        assert verify_archive(settings).ok

        from_kafka = rebuild(settings)
        assert rebuild(settings, source=archive_source(settings)) == from_kafka

        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        cuts = trim(settings, tomorrow, say=lambda _: None)
        assert cuts.records > 0
        assert _log_start(settings) == {p: cut for p, (_, cut) in cuts.cuts.items()}
        acme = partition_for("acme", settings.kafka.partitions)
        assert [m.offset() for m in read_to_end(settings.kafka, topic_name(settings.kafka, "log"), [acme])] == [
            max(
                o
                for p, o in messages
                if p == acme and messages[(p, o)].record and "sequence" in messages[(p, o)].record
            )
        ]  # acme's newest record stays: the sequencer rebuilds its chain head from it
        assert rebuild(settings, source=archive_source(settings)) == from_kafka
        assert verify_archive(settings).ok
        assert _dataset_rows(settings) == len(messages)  # the README's pyarrow.dataset query

        counts = take_snapshot(settings)
        users = read_table_of(settings, snapshot_key(datetime.now(UTC).date(), "users"))
        assert users.num_rows == counts["users"] > 0
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l4")


def read_table_of(settings: Settings, key: str) -> Any:
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(read_object(make_client(settings.s3), settings.s3.archive_bucket, key)))


def _dataset_rows(settings: Settings) -> int:
    """The README's query: pyarrow.dataset over the bucket, hive partitions as columns."""
    import pyarrow.dataset as ds
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        access_key=settings.s3.access_key,
        secret_key=settings.s3.secret_key.get_secret_value(),
        endpoint_override=f"http://{settings.s3.endpoint}",
        region=settings.s3.region,
    )
    archive = ds.dataset(settings.s3.archive_bucket, filesystem=s3, format="parquet", partitioning="hive")
    table = archive.to_table(columns=["tenant", "date", "type"])
    assert set(table.column("tenant").to_pylist()) == {"acme", "_unsequenced"}
    return table.num_rows
