"""The archiver: every log message, exactly once, as Parquet in the archive bucket.

Two halves, one component (``skillmind run archiver``):

- a log worker (``jobs.logworker``) whose batch handler copies each new message, bytes
  as Kafka holds them, into ``archive_buffer`` — in the transaction that stores its
  offsets, so a crash neither loses nor repeats a message;
- a sealer that closes files. Commit order, written where it happens:

  1. ``seal_due``: for a (tenant, day, partition) whose waiting records reach
     ``archive.max_file_records``/``max_file_bytes`` or whose oldest waited
     ``max_age_s``, one transaction names the file by its sequence range, inserts it in
     ``archive_files`` as ``sealed`` and marks its buffer rows with that name;
  2. ``store_sealed``: writes those rows as Parquet (``events.archive_format``) and puts
     the object under that name;
  3. one transaction marks the file ``stored`` (size, SHA-256) and deletes its rows.

  A crash after 1 or 2 re-runs 2 and 3 with the same rows and the same name: the object
  is overwritten, never doubled. So every message is in exactly one object.

Objects: ``tenant=<id>/date=<YYYY-MM-DD>/seq-<first>-<last>.parquet`` (a collision — a
second writer repeating sequences — adds ``-p<partition>o<first offset>``);
``tenant=_unsequenced/date=<day>/p<partition>-offset-<first>-<last>.parquet`` for
messages without tenant and sequence.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import structlog
from minio import Minio
from minio.error import S3Error

from events.archive_format import UNSEQUENCED, object_key, parquet_bytes, placement, to_row
from events.topics import topic_name
from jobs.logworker import LogWorker
from jobs.objectstore import make_client
from projections.runner import LogMessage
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
WORKER = "archiver"


def buffer_messages(cur: psycopg.Cursor, messages: Sequence[LogMessage]) -> None:
    """The log worker's batch handler: every new message into ``archive_buffer`` (COPY)."""
    columns = "log_partition, log_offset, tenant_id, day, sequence, value"
    with cur.copy(f"copy archive_buffer ({columns}) from stdin") as copy:
        for m in messages:
            where = placement(m.record)
            copy.write_row((m.partition, m.offset, where.tenant, where.day, where.sequence, m.value))


def archiver_worker(settings: Settings, database: str | None = None) -> LogWorker:
    return LogWorker(
        WORKER,
        settings,
        frozenset(),
        _unused,
        batch_size=settings.archive.batch,
        database=database,
        take_batch=buffer_messages,
    )


def _unused(cur: psycopg.Cursor, record: dict[str, Any]) -> None:
    """Never called: ``take_batch`` takes every message."""
    raise AssertionError("the archiver takes whole batches")


@dataclass(frozen=True)
class Group:
    tenant: str
    day: date
    partition: int


def due_groups(conn: psycopg.Connection, settings: Settings, *, force: bool = False) -> list[Group]:
    """Groups of waiting records that must close now (all of them when ``force``)."""
    bound = settings.archive
    rows = conn.execute(
        "select tenant_id, day, log_partition from archive_buffer where file_key is null "
        "group by 1, 2, 3 having %(force)s or count(*) >= %(records)s "
        "or sum(coalesce(octet_length(value), 0)) >= %(bytes)s "
        "or min(buffered_at) <= now() - make_interval(secs => %(age)s)",
        {"force": force, "records": bound.max_file_records, "bytes": bound.max_file_bytes, "age": bound.max_age_s},
    ).fetchall()
    return [Group(*row) for row in rows]


def seal(conn: psycopg.Connection, group: Group, max_records: int) -> str | None:
    """Step 1: fix the next file of ``group`` — its name and records — in one transaction."""
    with conn.transaction():
        rows = conn.execute(
            "select log_offset, sequence from archive_buffer where tenant_id = %s and day = %s "
            "and log_partition = %s and file_key is null order by log_offset limit %s for update",
            [group.tenant, group.day, group.partition, max_records],
        ).fetchall()
        if not rows:
            return None
        offsets = [r[0] for r in rows]
        sequences = [r[1] for r in rows if r[1] is not None]
        key = _name(conn, group, offsets[0], offsets[-1], sequences)
        conn.execute(
            "insert into archive_files (key, tenant_id, day, first_sequence, last_sequence, log_partition, "
            "first_offset, last_offset, records, state) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'sealed')",
            [
                key,
                group.tenant,
                group.day,
                min(sequences, default=None),
                max(sequences, default=None),
                group.partition,
                offsets[0],
                offsets[-1],
                len(rows),
            ],
        )
        conn.execute(
            "update archive_buffer set file_key = %s where log_partition = %s and log_offset between %s and %s "
            "and tenant_id = %s and day = %s and file_key is null",
            [key, group.partition, offsets[0], offsets[-1], group.tenant, group.day],
        )
    return key


def _name(conn: psycopg.Connection, group: Group, first_offset: int, last_offset: int, sequences: list[int]) -> str:
    if group.tenant == UNSEQUENCED:
        return object_key(UNSEQUENCED, group.day, first_offset, last_offset, by=f"p{group.partition}-offset")
    key = object_key(group.tenant, group.day, min(sequences), max(sequences))
    taken = conn.execute("select 1 from archive_files where key = %s", [key]).fetchone()
    # Only a second writer repeating sequences can collide; the offset makes the name unique.
    return key.replace(".parquet", f"-p{group.partition}o{first_offset}.parquet") if taken else key


def store(conn: psycopg.Connection, s3: Minio, bucket: str, key: str) -> int:
    """Steps 2 and 3 for one sealed file: upload, then mark stored and drop its rows."""
    messages = conn.execute(
        "select log_partition, log_offset, value from archive_buffer where file_key = %s order by log_offset", [key]
    ).fetchall()
    if not messages:  # another sealer (`archive flush` beside a running archiver) stored it
        return 0
    rows = [to_row(m.record, m.value, m.partition, m.offset) for m in (LogMessage.parse(*r) for r in messages)]
    payload = parquet_bytes(rows)
    put_replacing(s3, bucket, key, payload)
    with conn.transaction():
        conn.execute(
            "update archive_files set state = 'stored', size_bytes = %s, sha256 = %s, stored_at = now() where key = %s",
            [len(payload), hashlib.sha256(payload).hexdigest(), key],
        )
        conn.execute("delete from archive_buffer where file_key = %s", [key])
    log.info("archive.stored", key=key, records=len(rows), bytes=len(payload))
    return len(rows)


def put_replacing(s3: Minio, bucket: str, key: str, payload: bytes) -> None:
    """Put ``payload`` as the only version of ``key``: skipped when a crashed run already
    stored these very bytes (ETag = MD5 of a single-part upload); otherwise the previous
    version is removed after the put. The bucket is versioned (object lock), and a
    retention rewrite must leave no older copy of purged data behind."""
    try:
        current = s3.stat_object(bucket, key)
    except S3Error as err:
        if err.code not in ("NoSuchKey", "NotFound"):
            raise
        current = None
    if current is not None and (current.etag or "").strip('"') == hashlib.md5(payload).hexdigest():
        return
    written = s3.put_object(
        bucket, key, io.BytesIO(payload), len(payload), content_type="application/vnd.apache.parquet"
    )
    if current is not None and current.version_id and current.version_id != written.version_id:
        s3.remove_object(bucket, key, version_id=current.version_id)


def sealed_keys(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("select key from archive_files where state = 'sealed' order by sealed_at, key").fetchall()
    return [r[0] for r in rows]


@dataclass
class Sealer:
    """Closes due files and uploads sealed ones, every ``archive.seal_every_s``."""

    settings: Settings
    database: str | None = None

    def __post_init__(self) -> None:
        self.s3 = make_client(self.settings.s3)
        self.bucket = self.settings.s3.archive_bucket

    def flush(self, *, force: bool = False) -> int:
        """One round: finish sealed files (a crash's leftovers first), seal due groups,
        store them. Returns the records stored."""
        stored = 0
        with psycopg.connect(self.settings.postgres.conninfo(self.database), autocommit=True) as conn:
            for sealed in sealed_keys(conn):
                stored += store(conn, self.s3, self.bucket, sealed)
            # A group above its bound closes one full file per pass, until it is below it.
            while groups := due_groups(conn, self.settings, force=force):
                for group in groups:
                    if key := seal(conn, group, self.settings.archive.max_file_records):
                        stored += store(conn, self.s3, self.bucket, key)
        return stored

    def run(self, stop: threading.Event, progress: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            if self.flush() and progress:
                progress()
            stop.wait(self.settings.archive.seal_every_s)


def archiver_sealer(settings: Settings, database: str | None = None) -> Sealer:
    return Sealer(settings, database)


def archived_offsets(conn: psycopg.Connection, settings: Settings) -> dict[int, int]:
    """Per log partition, the offset below which every message is in a stored archive
    file (or is not a message: transaction markers): the smallest offset still waiting in
    the buffer, else the archiver's next offset. A replay from the archive takes the
    Kafka tail from here; ``archive trim`` never deletes at or past it."""
    topic = topic_name(settings.kafka, "log")
    taken: dict[int, int] = dict(
        conn.execute(
            "select partition, next_offset from worker_positions where worker = %s and topic = %s", [WORKER, topic]
        ).fetchall()
    )
    waiting: dict[int, int] = dict(
        conn.execute("select log_partition, min(log_offset) from archive_buffer group by 1").fetchall()
    )
    return {p: min(o, waiting.get(p, o)) for p, o in taken.items()}
