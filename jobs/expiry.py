"""Exports past their time to live, and the two promises about the bucket.

``expire_exports`` (a beat task, every ``exports.expiry_every_s``): each ready export
whose ``expires_at`` has passed loses its object, then ``export.expired`` is appended.
Deleting first is safe: if the append fails, the next run finds the export still ready,
deletes nothing new, and appends again (same event id: the sequencer keeps one).

``reconcile_exports`` (every ``exports.reconcile_every_s``) makes two promises true:
- no object in the bucket without a ready export record: an object whose export is not
  ready (or unknown) and older than ``reconcile_grace_s`` — longer than any export takes
  between its upload and its ``export.completed`` — is deleted;
- no ready record without its object: a ready export whose object is gone is expired
  with reason ``object missing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import structlog
from minio import Minio
from minio.error import S3Error

from events.inbox import InboxWriter
from jobs.exports import append_system_event
from jobs.objectstore import make_client
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Reconciled:
    expired: int = 0
    orphans_deleted: int = 0
    missing: int = 0


def _expire(inbox: InboxWriter, tenant: str, export_id: str, reason: str) -> None:
    append_system_event(
        inbox, tenant, "export.expired", {"export_id": export_id, "reason": reason}, f"{export_id}:expired"
    )


def expire_exports(settings: Settings, database: str | None = None, now: datetime | None = None) -> int:
    """Delete the objects of ready exports past their TTL and append ``export.expired``."""
    now = now or datetime.now(UTC)
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        due = conn.execute(
            "select tenant_id, export_id, object_key, manifest_key, coalesce(hold_ids, '{}') from readmodel.exports "
            "where status = 'ready' and expires_at <= %s order by expires_at limit 1000",
            [now],
        ).fetchall()
        due = [row for row in due if not _still_held(conn, row[0], row[4])]
    if not due:
        return 0
    s3, inbox, bucket = make_client(settings.s3), InboxWriter(settings.kafka), settings.s3.exports_bucket
    try:
        for tenant, export_id, key, manifest_key, hold_ids in due:
            remove_export(s3, inbox, bucket, (tenant, export_id, key, manifest_key, hold_ids), "ttl")
    finally:
        inbox.close()
    return len(due)


def remove_export(
    s3: Minio, inbox: InboxWriter, bucket: str, row: tuple[str, str, str, str | None, list[str]], reason: str
) -> None:
    """Delete an export's objects, then append ``export.expired`` — the TTL expiry's and
    retention's one way (row: tenant, export id, object key, manifest key, hold ids)."""
    tenant, export_id, key, manifest_key, hold_ids = row
    for name in filter(None, (key, manifest_key)):
        if hold_ids:  # its holds were released: lift the S3 legal hold, then delete
            s3.disable_object_legal_hold(bucket, name)
        s3.remove_object(bucket, name)
    _expire(inbox, tenant, export_id, reason)
    log.info("export.expired", tenant=tenant, export_id=export_id, reason=reason)


def still_held(conn: psycopg.Connection, tenant: str, hold_ids: list[str]) -> bool:
    return _still_held(conn, tenant, hold_ids)


def _still_held(conn: psycopg.Connection, tenant: str, hold_ids: list[str]) -> bool:
    """An export made under legal holds is kept past its TTL while any of them is in force."""
    if not hold_ids:
        return False
    from api.audit_query import active_holds

    return bool({hold.hold_id for hold in active_holds(conn, tenant)} & set(hold_ids))


def reconcile_exports(settings: Settings, database: str | None = None, now: datetime | None = None) -> Reconciled:
    """Orphan objects deleted, records without objects expired (see the module docstring)."""
    now = now or datetime.now(UTC)
    grace = timedelta(seconds=settings.exports.reconcile_grace_s)
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        ready = {}
        for tenant, export_id, key, manifest_key in conn.execute(
            "select tenant_id, export_id, object_key, manifest_key from readmodel.exports where status = 'ready'"
        ):
            ready[key] = (tenant, export_id)
            if manifest_key:  # the audit export's second object belongs to the same record
                ready[manifest_key] = (tenant, export_id)
    s3, bucket, outcome = make_client(settings.s3), settings.s3.exports_bucket, Reconciled()
    present = set()
    for obj in s3.list_objects(bucket, recursive=True):
        present.add(obj.object_name)
        if obj.object_name not in ready and obj.last_modified and now - obj.last_modified > grace:
            s3.remove_object(bucket, obj.object_name)
            outcome.orphans_deleted += 1
            log.warning("export.orphan_deleted", key=obj.object_name)
    inbox = InboxWriter(settings.kafka)
    try:
        for key, (tenant, export_id) in ready.items():
            if key not in present and not _exists(s3, bucket, key):
                _expire(inbox, tenant, export_id, "object missing")
                outcome.missing += 1
                log.warning("export.object_missing", tenant=tenant, export_id=export_id, key=key)
    finally:
        inbox.close()
    return outcome


def _exists(s3: object, bucket: str, key: str) -> bool:
    try:
        s3.stat_object(bucket, key)  # type: ignore[attr-defined]
        return True
    except S3Error as err:
        if err.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return False
        raise
