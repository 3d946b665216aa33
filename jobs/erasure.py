"""The archive side of an erasure: records written before encryption existed, redacted.

A ``subject.erased`` receipt lists the subject's records that hold their name and e-mail in
plaintext (``unsealed_sequences``: v1 ``user.registered`` written around the API). Their key
cannot be destroyed — there is none — so the archive is rewritten instead: each such row keeps
its envelope and hashes, its personal fields become :data:`REDACTED` and the row is marked a
stub (``stub`` true, ``raw`` dropped), which ``audit verify --archive`` accepts because the
receipt covers it (``jobs.archive_audit.receipts_in``). The rest of ``data`` (user id, roles)
stays, so a replay from the archive folds the same directory rows as the live tables.

The read-model snapshots (``_snapshots/day=*/users.parquet``, ``jobs/snapshot.py``) taken
before an erasure named the person too: :func:`redact_snapshots` rewrites their ``users`` rows
as the fold of ``subject.erased`` does, and removes every older version of the object.

Exports made before the erasure may name the person as well: :func:`expire_exports` expires
every ready export of the tenant no legal hold keeps, as the TTL expiry does (objects
deleted, ``export.expired`` with reason ``erasure``), and removes every version of their
objects (the bucket is versioned for object lock). They can be requested again.

The hot Kafka log keeps the plaintext until ``skillmind archive trim`` deletes it (README,
"Erasure"). Runs right after the erasure (``api/subjects.py``) and hourly from the scheduler
(:func:`redact_erased`), for records the archiver stored after the first pass. Idempotent: a
redacted row is never rewritten again.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from minio import Minio
from psycopg import sql

from events.archive_format import parquet_bytes
from events.inbox import InboxWriter
from jobs.archive_replay import read_object, read_table
from jobs.archiver import put_replacing
from jobs.expiry import remove_export, still_held
from jobs.objectstore import make_client
from projections import tables as t
from projections.personal import ERASED
from projections.runner import READ_MODEL_SCHEMA
from skillmind.settings import Settings

log = structlog.get_logger(__name__)

# What a redacted v1 registration says instead of the person: still valid v1 data
# (``.invalid`` is reserved by RFC 2606), so a replay from the archive folds it.
REDACTED = {"display_name": "[erased]", "email": "erased@erased.invalid"}


def redacted(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its personal fields replaced by :data:`REDACTED`, marked a stub."""
    data = json.loads(row["data"]) if row.get("data") else {}
    data.update({k: v for k, v in REDACTED.items() if k in data})
    return {**row, "data": json.dumps(data, ensure_ascii=False, separators=(",", ":")), "raw": None, "stub": True}


def _files(conn: psycopg.Connection[Any], tenant: str, sequences: Iterable[int]) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "select key from archive_files where tenant_id = %s and state = 'stored' "
            "and exists (select 1 from unnest(%s::bigint[]) s where s between first_sequence and last_sequence)",
            [tenant, list(sequences)],
        ).fetchall()
    ]


def _rewrite(conn: psycopg.Connection[Any], s3: Minio, bucket: str, key: str, tenant: str, gone: set[int]) -> int:
    rows = read_table(read_object(s3, bucket, key)).to_pylist()
    hit = {r["sequence"] for r in rows if r["tenantid"] == tenant and r["sequence"] in gone and not r["stub"]}
    if not hit:
        return 0
    payload = parquet_bytes(redacted(r) if r["sequence"] in hit and r["tenantid"] == tenant else r for r in rows)
    put_replacing(s3, bucket, key, payload)  # the old version still holds the plaintext: removed
    conn.execute(
        "update archive_files set size_bytes = %s, sha256 = %s where key = %s",
        [len(payload), hashlib.sha256(payload).hexdigest(), key],
    )
    return len(hit)


def redact_archive(settings: Settings, tenant: str, sequences: Iterable[int], database: str | None = None) -> int:
    """Redact the stored archive rows of ``tenant`` at ``sequences``; the count redacted now.

    Raises ``minio.error.S3Error`` or ``psycopg.Error`` when a store fails (nothing is half
    written: an object is replaced whole, then its recorded size and SHA-256 updated)."""
    gone = set(sequences)
    if not gone:
        return 0
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        count = sum(_rewrite(conn, s3, bucket, key, tenant, gone) for key in _files(conn, tenant, gone))
    if count:
        log.info("erasure.archive_redacted", tenant=tenant, records=count)
    return count


def erased_records(settings: Settings, database: str | None = None) -> dict[str, set[int]]:
    """Per tenant, the sequences every folded ``subject.erased`` receipt names."""
    query = sql.SQL("select tenant_id, sequence from {}").format(
        sql.Identifier(READ_MODEL_SCHEMA, t.ERASED_RECORDS.name)
    )
    found: dict[str, set[int]] = defaultdict(set)
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        for tenant, sequence in conn.execute(query).fetchall():
            found[tenant].add(sequence)
    return found


def erased_subjects(settings: Settings, database: str | None = None) -> dict[str, set[str]]:
    """Per tenant, the subjects a folded ``subject.erased`` names."""
    query = sql.SQL("select tenant_id, subject_id from {}").format(sql.Identifier(READ_MODEL_SCHEMA, t.ERASURES.name))
    found: dict[str, set[str]] = defaultdict(set)
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        for tenant, subject in conn.execute(query).fetchall():
            found[tenant].add(subject)
    return found


def _only_version(s3: Minio, bucket: str, key: str, payload: bytes) -> None:
    """``payload`` as the one version of ``key``: every older version (a snapshot taken twice
    a day leaves several) is removed."""
    put_replacing(s3, bucket, key, payload)
    versions = [o for o in s3.list_objects(bucket, prefix=key, include_version=True) if o.object_name == key]
    for old in versions:
        if not old.is_latest and old.version_id:
            s3.remove_object(bucket, key, version_id=old.version_id)


def redact_snapshots(settings: Settings, erased: Mapping[str, set[str]]) -> int:
    """Rewrite the ``users`` rows of ``erased`` (tenant -> subjects) in every read-model
    snapshot as erased; the count of rows rewritten now."""
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    count = 0
    for obj in s3.list_objects(bucket, prefix="_snapshots/", recursive=True):
        key = obj.object_name or ""
        if not key.endswith(f"/{t.USERS.name}.parquet"):
            continue
        table = pq.read_table(io.BytesIO(read_object(s3, bucket, key)))
        rows = table.to_pylist()
        hit = [r for r in rows if r["user_id"] in erased.get(r["tenant_id"], ()) and r | ERASED != r]
        if hit:
            sink = io.BytesIO()
            pq.write_table(pa.Table.from_pylist([r | ERASED if r in hit else r for r in rows], table.schema), sink)
            _only_version(s3, bucket, key, sink.getvalue())
            count += len(hit)
    return count


def redact_erased(settings: Settings, database: str | None = None) -> int:
    """The scheduler's pass: redact every archived record an erasure receipt names, and the
    snapshots' rows of every erased subject; the count redacted now."""
    records = erased_records(settings, database).items()
    redacted_rows = sum(redact_archive(settings, tenant, seqs, database) for tenant, seqs in records)
    return redacted_rows + redact_snapshots(settings, erased_subjects(settings, database))


def _remove_versions(s3: Minio, bucket: str, key: str) -> None:
    for old in s3.list_objects(bucket, prefix=key, include_version=True):
        if old.object_name == key and old.version_id:
            s3.remove_object(bucket, key, version_id=old.version_id)


def expire_exports(settings: Settings, tenant: str, database: str | None = None) -> int:
    """Expire the tenant's ready exports that no legal hold keeps (reason ``erasure``) and
    remove every version of their objects; the count expired. Raises ``S3Error``,
    ``psycopg.Error`` or ``events.errors.LogError`` when a store fails (a retry goes on)."""
    query = sql.SQL(
        "select tenant_id, export_id, object_key, manifest_key, coalesce(hold_ids, '{{}}') from {} "
        "where tenant_id = %s and status = 'ready' order by export_id"
    ).format(sql.Identifier(READ_MODEL_SCHEMA, t.EXPORTS.name))
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        rows = [r for r in conn.execute(query, [tenant]).fetchall() if not still_held(conn, tenant, r[4])]
    if not rows:
        return 0
    s3, bucket, inbox = make_client(settings.s3), settings.s3.exports_bucket, InboxWriter(settings.kafka)
    try:
        for row in rows:
            remove_export(s3, inbox, bucket, row, "erasure")
            for key in filter(None, (row[2], row[3])):
                _remove_versions(s3, bucket, key)
    finally:
        inbox.close()
    log.info("erasure.exports_expired", tenant=tenant, exports=len(rows))
    return len(rows)
