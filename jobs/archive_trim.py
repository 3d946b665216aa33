"""``skillmind archive trim --before DATE``: make the hot log a window behind the archive.

Opt-in. For each log partition the cut is the first offset appended on or after DATE
(UTC midnight; the log's timestamps are LogAppendTime), but never past the archived
offset (``jobs.archiver.archived_offsets``). Before anything is deleted, the part to
delete is **verified** against the archive:

1. every stored archive object's SHA-256 equals the one recorded when it was stored;
2. every Kafka message below the cut is in the archive at the same partition and offset
   and reads back as the same record (``jobs.archive_replay.message_of``);
3. every tenant's chain verifies over the archive and the Kafka tail after it
   (``events.archive_verify``; stubs need a receipt, found in either).

The newest record of every tenant is never deleted (``keep_heads``: the sequencer
rebuilds each tenant's chain head from the log). Only then ``AdminClient.delete_records``
moves each partition's start to its cut. Any failed check deletes nothing and says which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from events.archive_format import UNSEQUENCED
from events.archive_verify import verify_rows
from events.errors import LogError
from events.kafka import consumer_config
from events.reader import partitions_of, read_to_end
from events.topics import admin_client, topic_name
from jobs.archive_audit import purge_coverage, tail_rows
from jobs.archive_replay import archive_keys, kafka_message, message_of, read_object, read_table
from jobs.archiver import archived_offsets
from jobs.objectstore import ObjectStoreError, make_client
from skillmind.settings import Settings


class TrimRefused(ObjectStoreError):
    """The archive does not (verifiably) hold what a trim would delete: nothing deleted."""


@dataclass(frozen=True)
class TrimPlan:
    """Per partition: (current start offset, cut); records in [start, cut) go."""

    cuts: dict[int, tuple[int, int]]

    @property
    def records(self) -> int:
        return sum(cut - start for start, cut in self.cuts.values())


def plan(settings: Settings, before: date, conn: psycopg.Connection) -> TrimPlan:
    topic = topic_name(settings.kafka, "log")
    archived = archived_offsets(conn, settings)
    stamp = int(datetime.combine(before, time(0), tzinfo=UTC).timestamp() * 1000)
    consumer = Consumer(consumer_config(settings.kafka))
    try:
        partitions = partitions_of(settings.kafka, topic)
        wanted = [TopicPartition(topic, p, stamp) for p in partitions]
        found = {tp.partition: tp.offset for tp in consumer.offsets_for_times(wanted, timeout=10)}
        cuts = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            by_time = found[p] if found[p] >= 0 else high  # -1: nothing appended since DATE
            cuts[p] = (low, max(low, min(by_time, archived.get(p, 0))))
    finally:
        consumer.close()
    return TrimPlan(cuts)


def keep_heads(cuts: TrimPlan, rows: list[dict[str, Any]], buffered: set[str]) -> TrimPlan:
    """Lower each cut so the newest record of every tenant stays in the hot log: the
    sequencer rebuilds a tenant's chain head (sequence, hash) from its partition of the log,
    and a tenant with no record left there would restart its chain. A tenant with records
    still in the archive buffer has its newest record at or past the archived offset, so
    past every cut; the others' newest record is their newest archived one."""
    heads: dict[tuple[int, str], int] = {}
    for r in rows:
        tenant = r["tenantid"]
        if r["sequence"] is not None and tenant is not None and tenant != UNSEQUENCED and tenant not in buffered:
            key = (r["log_partition"], tenant)
            heads[key] = max(heads.get(key, -1), r["log_offset"])
    lowered = {}
    for partition, (start, cut) in cuts.cuts.items():
        newest = [offset for (p, _), offset in heads.items() if p == partition]
        lowered[partition] = (start, max(start, min([cut, *newest])))
    return TrimPlan(lowered)


def verify_for_trim(settings: Settings, conn: psycopg.Connection, cuts: TrimPlan) -> tuple[TrimPlan, int]:
    """Checks 1–3 of the module docstring, on the cuts ``keep_heads`` lowers; returns those
    cuts and the messages verified, raises TrimRefused."""
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    recorded: dict[str, str] = dict(
        conn.execute("select key, sha256 from archive_files where state = 'stored'").fetchall()
    )
    rows = []
    for key in archive_keys(s3, bucket):
        payload = read_object(s3, bucket, key)
        if key in recorded and hashlib.sha256(payload).hexdigest() != recorded[key]:
            raise TrimRefused(f"archive object {key} differs from what was stored (SHA-256); nothing trimmed")
        rows.extend(read_table(payload).to_pylist())
    below = archived_offsets(conn, settings)
    # The log as the archive keeps it: archived rows, then the tail (buffered records and
    # receipts not archived yet), so neither is mistaken for a gap or a missing receipt.
    whole = [r for r in rows if r["log_offset"] < below.get(r["log_partition"], 0)] + tail_rows(settings, below)
    verdict = verify_rows(whole, purge_coverage(whole))
    if not verdict.ok:
        raise TrimRefused(verdict.describe() + "; nothing trimmed")
    buffered = {r[0] for r in conn.execute("select distinct tenant_id from archive_buffer").fetchall()}
    cuts = keep_heads(cuts, rows, buffered)
    archived = {(r["log_partition"], r["log_offset"]): r for r in rows}
    return cuts, _compare_with_kafka(settings, cuts, archived)


def _compare_with_kafka(settings: Settings, cuts: TrimPlan, archived: dict[tuple[int, int], dict[str, Any]]) -> int:
    topic = topic_name(settings.kafka, "log")
    checked = 0
    for partition, (start, cut) in cuts.cuts.items():
        if cut <= start:
            continue
        for m in read_to_end(settings.kafka, topic, [partition], start_offset=start):
            live = kafka_message(m)
            if live.offset >= cut:
                break
            row = archived.get((partition, live.offset))
            if row is None or (not row["stub"] and message_of(row) != live):
                raise TrimRefused(f"{topic}[{partition}]@{live.offset} is not in the archive as it is; nothing trimmed")
            checked += 1
    return checked


def trim(
    settings: Settings,
    before: date,
    *,
    dry_run: bool = False,
    database: str | None = None,
    say: Callable[[str], None] = print,
) -> TrimPlan:
    """Verify, then delete the log's records below each partition's cut (see above)."""
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        cuts, checked = verify_for_trim(settings, conn, plan(settings, before, conn))
    say(f"verified {checked} log records against the archive; {cuts.records} to delete")
    if dry_run or cuts.records == 0:
        return cuts
    topic = topic_name(settings.kafka, "log")
    wanted = [TopicPartition(topic, p, cut) for p, (start, cut) in cuts.cuts.items() if cut > start]
    admin = admin_client(settings.kafka)  # kept referenced: its futures resolve on its thread
    futures = admin.delete_records(wanted, request_timeout=30, operation_timeout=30)
    for tp, future in futures.items():
        try:
            future.result(timeout=60)
        except Exception as err:  # a KafkaException; the others may have been trimmed already
            raise LogError(f"delete_records on {tp.topic}[{tp.partition}] failed: {err}") from err
        say(f"{topic}[{tp.partition}]: records below offset {tp.offset} deleted")
    return cuts
