"""Audit over the archive: ``skillmind audit verify --archive`` and the purge receipts.

What is verified is the log as the archive keeps it: every archived row below the
archived offsets, then the Kafka tail from there (records the archiver has taken but not
yet written to a file are read from Kafka, so they are not reported as gaps; after a trim
the tail is the only other copy). The purge receipts (``retention.purged``, data
``sequence_ranges``: ``[[first, last], ...]``) are read from the same rows: a purge
appends its receipt before it rewrites any archive file, so a stub never lacks one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from events.archive_format import to_record, to_row
from events.archive_verify import ArchiveVerdict, Covered, verify_rows
from events.reader import partitions_of, read_to_end
from events.topics import topic_name
from jobs.archive_replay import archive_keys, kafka_message, read_object, read_table
from jobs.archiver import archived_offsets
from jobs.objectstore import make_client
from skillmind.settings import Settings

RECEIPT = "retention.purged"
ERASURE_RECEIPT = "subject.erased"


def archive_rows(settings: Settings, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every row of the archive (of one tenant's objects if given)."""
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    prefix = f"tenant={tenant}/" if tenant else "tenant="
    rows: list[dict[str, Any]] = []
    for key in archive_keys(s3, bucket, prefix):
        rows.extend(read_table(read_object(s3, bucket, key)).to_pylist())
    return rows


def receipts_in(records: Iterable[Mapping[str, Any] | None]) -> dict[str, list[tuple[int, int]]]:
    """Per tenant, the sequence ranges the ``retention.purged`` receipts among ``records`` cover,
    and the records ``subject.erased`` receipts name (redacted in the archive, ``jobs.erasure``)."""
    ranges: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for record in records:
        if record and record.get("type") == RECEIPT and isinstance(record.get("data"), dict):
            for first, last in record["data"].get("sequence_ranges", []):
                ranges[record["data"]["tenant_id"]].append((first, last))
        if record and record.get("type") == ERASURE_RECEIPT and isinstance(record.get("data"), dict):
            ranges[record["tenantid"]] += [(s, s) for s in record["data"].get("unsealed_sequences", [])]
    return ranges


def coverage(ranges: Mapping[str, list[tuple[int, int]]]) -> Covered:
    def covered(tenant: str, sequence: int) -> bool:
        return any(first <= sequence <= last for first, last in ranges.get(tenant, ()))

    return covered


def log_rows(settings: Settings, database: str | None = None) -> list[dict[str, Any]]:
    """Archived rows below the archived offsets, then the Kafka tail as rows (module docstring)."""
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        below = archived_offsets(conn, settings)
    rows = [r for r in archive_rows(settings) if r["log_offset"] < below.get(r["log_partition"], 0)]
    return rows + tail_rows(settings, below)


def tail_rows(settings: Settings, below: Mapping[int, int]) -> list[dict[str, Any]]:
    """The Kafka log from the archived offsets on, as archive rows."""
    topic = topic_name(settings.kafka, "log")
    rows = []
    for partition in partitions_of(settings.kafka, topic):
        for m in read_to_end(settings.kafka, topic, [partition], start_offset=below.get(partition, 0)):
            parsed = kafka_message(m)
            rows.append(to_row(parsed.record, parsed.value, parsed.partition, parsed.offset))
    return rows


def purge_coverage(rows: Iterable[Mapping[str, Any]]) -> Covered:
    """Which (tenant, sequence) a purge receipt among ``rows`` covers."""
    records = [to_record(r) for r in rows if not r["stub"]]
    return coverage(receipts_in(records))


def verify_archive(settings: Settings, *, tenant: str | None = None) -> ArchiveVerdict:
    """Every tenant's chain over the archive (stubs need a receipt); see ``events.archive_verify``."""
    rows = log_rows(settings)
    mine = [r for r in rows if tenant is None or r["tenantid"] == tenant]
    return verify_rows(mine, purge_coverage(rows))
