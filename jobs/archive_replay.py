"""Read the archive back: its objects as log messages, and ``skillmind replay --from-archive``.

A replay from the archive feeds the rebuild (``projections.rebuild``) the same messages,
at the same partitions and offsets, as a replay from Kafka offset 0: first every archived
message below the archived offsets (``jobs.archiver.archived_offsets``), per partition in
offset order, then the Kafka tail of each partition from that offset. The checksums are
therefore those of a replay from Kafka — also after ``archive trim`` deleted the head.

Memory: a partition's archived messages are sorted in memory (as Arrow columns) before
they are folded; the archive of one Kafka partition must fit in RAM.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from confluent_kafka import Message
from minio import Minio

from events.archive_format import ARCHIVE_SCHEMA, to_record
from events.reader import partitions_of, read_to_end
from events.topics import topic_name
from jobs.archiver import archived_offsets
from jobs.objectstore import make_client
from projections.rebuild import Source
from projections.runner import LogMessage
from skillmind.settings import Settings


def archive_keys(s3: Minio, bucket: str, prefix: str = "tenant=") -> list[str]:
    """Every Parquet object of the archive of the log under ``prefix``, by name (the
    bucket's ``_snapshots/`` are not part of it)."""
    found = s3.list_objects(bucket, prefix=prefix, recursive=True)
    return sorted(o.object_name for o in found if o.object_name.endswith(".parquet"))


def read_object(s3: Minio, bucket: str, key: str) -> bytes:
    response = s3.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def read_table(payload: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(payload), schema=ARCHIVE_SCHEMA)


def kafka_message(m: Message) -> LogMessage:
    """A Kafka message as the runners read it (confluent types partition and offset as optional)."""
    return LogMessage.parse(m.partition() or 0, m.offset() or 0, m.value())


def message_of(row: dict[str, Any]) -> LogMessage:
    """The message a row stands for, exactly as ``LogMessage.parse`` reads it from Kafka."""
    partition, offset = row["log_partition"], row["log_offset"]
    if row["raw"] is not None:
        return LogMessage.parse(partition, offset, row["raw"])
    return LogMessage(partition, offset, to_record(row))


def archived_by_partition(s3: Minio, bucket: str, below: dict[int, int]) -> dict[int, pa.Table]:
    """Per partition, the archived rows below ``below[p]``, sorted by offset."""
    parts: dict[int, list[pa.Table]] = defaultdict(list)
    for key in archive_keys(s3, bucket):
        table = read_table(read_object(s3, bucket, key))
        for partition in set(table.column("log_partition").to_pylist()):
            mask = pc.and_(
                pc.equal(table["log_partition"], partition),
                pc.less(table["log_offset"], below.get(partition, 0)),
            )
            parts[partition].append(table.filter(mask))
    return {p: pa.concat_tables(ts).sort_by("log_offset") for p, ts in parts.items()}


def archive_source(settings: Settings) -> Source:
    """The rebuild source of ``skillmind replay --from-archive`` (see the module docstring)."""
    topic = topic_name(settings.kafka, "log")
    s3 = make_client(settings.s3)

    def read(conn: psycopg.Connection, batch_size: int) -> Iterator[list[LogMessage]]:
        below = archived_offsets(conn, settings)
        archived = archived_by_partition(s3, settings.s3.archive_bucket, below)
        for partition in sorted(archived):
            for batch in archived[partition].to_batches(max_chunksize=batch_size):
                yield [message_of(row) for row in batch.to_pylist()]
        for partition, start in sorted(below.items()):
            tail = read_to_end(settings.kafka, topic, [partition], start_offset=start)
            while chunk := list(islice(tail, batch_size)):
                yield [kafka_message(m) for m in chunk]
        untouched = _partitions_without_archive(settings, topic, below)
        if untouched:
            messages = read_to_end(settings.kafka, topic, untouched)
            while chunk := list(islice(messages, batch_size)):
                yield [kafka_message(m) for m in chunk]

    return read


def _partitions_without_archive(settings: Settings, topic: str, below: dict[int, int]) -> list[int]:
    return [p for p in partitions_of(settings.kafka, topic) if p not in below]
