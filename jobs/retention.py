"""The retention purge of one tenant (``skillmind retention purge``, and the scheduler's
hourly beat on each tenant's cadence). The rules are in ``jobs.retention_rules``.

**Legal holds plug in here, in one place:** ``held_predicate(conn, tenant)`` returns the
``HeldPredicate`` every part of the purge asks — archive records, read-model rows (a held
record's learner keeps their rows) and export objects (asked with the export's
``export.completed`` record). It is the legal-hold rule of ``projections.holds`` (issue
11) over the tenant's active holds; tests may pass another (``purge_tenant(held_for=...)``).

Order of a purge (written where it happens, ``purge_tenant``):

1. plan: the tenant's archive rows older than the cutoffs → stubs; read-model rows and
   export objects older than theirs → counted (a dry run stops here and prints the plan);
2. the receipt(s) ``retention.purged`` are appended to the log (through the inbox),
   before anything is removed — so no stub is ever without its receipt;
3. each expired export's object is deleted and ``export.expired`` appended, exactly as the
   TTL expiry does; the read models remove the expired learner-day rows themselves when
   they fold the receipt (``projections/purge.py``), so replays remove them too;
4. each affected archive file is rewritten under the same name with stubs, its recorded
   size and SHA-256 updated, and the previous object version removed.

A crash anywhere is repaired by the next run: every step is idempotent (a stub stays a
stub; a deleted row stays deleted) and a receipt's id is derived from what it covers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import structlog
from minio import Minio
from psycopg import sql
from psycopg.rows import dict_row

from events.archive_format import parquet_bytes, stub_of
from events.inbox import InboxWriter
from jobs.archive_replay import archive_keys, read_object, read_table
from jobs.archiver import put_replacing
from jobs.expiry import remove_export, still_held
from jobs.exports import append_system_event
from jobs.objectstore import make_client
from jobs.retention_rules import (
    Cutoffs,
    HeldPredicate,
    Policy,
    PurgePlan,
    nothing_held,
    plan_purge,
    ranges,
    receipt_chunks,
)
from projections.holds import covers, hold_from_row, refs_of
from projections.holds_sql import active_sql
from projections.purge import LEARNER_DAY_TABLES, purge_params, purge_sql
from projections.runner import READ_MODEL_SCHEMA
from schemas.types import format_utc
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


def held_predicate(conn: psycopg.Connection, tenant: str) -> HeldPredicate:
    """THE plug for legal holds (module docstring): is a record of ``tenant`` held?

    The tenant's active holds (``legal_holds`` without a later release,
    ``projections.holds_sql.active_sql``) judged by the one rule of ``projections.holds``
    (``covers`` over ``refs_of(record)``) — the rule audit search and the audit export apply.
    A record whose references cannot be read is treated as held: retention never guesses."""
    query = sql.SQL("select h.* from {holds} h where h.tenant_id = %s and {active}").format(
        holds=sql.Identifier(READ_MODEL_SCHEMA, "legal_holds"), active=active_sql(READ_MODEL_SCHEMA)
    )
    holds = [hold_from_row(row) for row in conn.cursor(row_factory=dict_row).execute(query, [tenant])]
    if not holds:
        return nothing_held

    def held(record: Mapping[str, Any]) -> bool:
        try:
            refs = refs_of(record)
        except (KeyError, TypeError, ValueError):
            return True
        return any(covers(hold, refs) for hold in holds)

    return held


ExportRow = tuple[str, str, str, str | None, list[str]]  # tenant, export id, object, manifest, hold ids


@dataclass
class PurgeReport:
    tenant: str
    cutoffs: Cutoffs
    plan: PurgePlan
    read_model_rows: dict[str, int] = field(default_factory=dict)
    export_objects: list[ExportRow] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        runs = ranges(self.plan.sequences)
        return [
            f"tenant {self.tenant}: learner events before {self.cutoffs.learner_events}, mutations before "
            f"{self.cutoffs.mutations}, exports before {self.cutoffs.exports}",
            f"  archive records to stubs: {len(self.plan.purged)} (learner events {self.plan.learner_events}, "
            f"mutations {self.plan.mutations}) in {len(self.files)} file(s); sequences {runs}",
            f"  kept under legal hold: {len(self.plan.held)}",
            *(f"  read model {t}: {n} row(s)" for t, n in self.read_model_rows.items()),
            f"  export objects: {len(self.export_objects)} {[row[2] for row in self.export_objects]}",
        ]


def policy_of(conn: psycopg.Connection, tenant: str) -> Policy:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"select * from {READ_MODEL_SCHEMA}.retention_policies where tenant_id = %s",
            [tenant],
        )
        .fetchone()
    )
    return Policy.of(row)


def _tenant_rows(s3: Minio, bucket: str, tenant: str, before: date) -> dict[str, list[dict[str, Any]]]:
    """The tenant's archive rows by object, of the date partitions before ``before``."""
    found = {}
    for key in archive_keys(s3, bucket, f"tenant={tenant}/"):
        day = date.fromisoformat(key.split("/date=")[1][:10])
        if day < before:
            found[key] = read_table(read_object(s3, bucket, key)).to_pylist()
    return found


def _learner_rows(conn: psycopg.Connection, tenant: str, before: date) -> dict[str, int]:
    """The read-model rows the receipt will remove when the projections fold it (the rule and
    its SQL live in ``projections.purge``; this counts with the same statement)."""
    counts = {}
    for table in LEARNER_DAY_TABLES:
        query = purge_sql(READ_MODEL_SCHEMA, table, count_only=True)
        counts[table.name] = conn.execute(query, purge_params(tenant, before)).fetchone()[0]  # type: ignore[index]
    return counts


def _expired_exports(conn: psycopg.Connection, tenant: str, before: date, held: HeldPredicate) -> list[ExportRow]:
    """Ready exports completed before ``before`` that no hold keeps: neither the hold
    predicate (asked with the export's ``export.completed`` record) nor, for an audit export
    made under holds, one of its holds still in force (``jobs.expiry.still_held``).
    Rows as ``jobs.expiry.remove_export`` takes them."""
    rows = conn.cursor(row_factory=dict_row).execute(
        f"select export_id, requested_by, object_key, manifest_key, coalesce(hold_ids, '{{}}') as hold_ids, "
        f"completed_at from {READ_MODEL_SCHEMA}.exports "
        "where tenant_id = %s and status = 'ready' and completed_at < %s order by export_id",
        [tenant, datetime.combine(before, datetime.min.time(), tzinfo=UTC)],
    )
    found = []
    for row in rows.fetchall():
        data = {k: row[k] for k in ("export_id", "requested_by", "object_key")}
        record = {"type": "export.completed", "tenantid": tenant, "time": format_utc(row["completed_at"]), "data": data}
        if not held(record) and not still_held(conn, tenant, row["hold_ids"]):
            found.append((tenant, row["export_id"], row["object_key"], row["manifest_key"], row["hold_ids"]))
    return found


def _expire_exports(
    settings: Settings, writer: InboxWriter, exports: list[tuple[str, str, str, str | None, list[str]]]
) -> None:
    """Each expired export the way the TTL expiry does it (``jobs.expiry.remove_export``):
    objects deleted, then ``export.expired`` (reason ``retention``, id ``<export id>:expired``),
    so no record points at nothing and an export expires once, whichever comes first."""
    s3 = make_client(settings.s3)
    for row in exports:
        remove_export(s3, writer, settings.s3.exports_bucket, row, "retention")


def _receipts(report: PurgeReport, today: date) -> list[tuple[str, dict[str, Any]]]:
    runs = ranges(report.plan.sequences)
    chunks = receipt_chunks(runs)
    out = []
    for n, chunk in enumerate(chunks):
        data = {
            "tenant_id": report.tenant,
            "learner_events_before": report.cutoffs.learner_events.isoformat(),
            "mutations_before": report.cutoffs.mutations.isoformat(),
            "exports_before": report.cutoffs.exports.isoformat(),
            "counts": {
                "learner_events": report.plan.learner_events if n == 0 else 0,
                "mutations": report.plan.mutations if n == 0 else 0,
                "read_model_rows": sum(report.read_model_rows.values()) if n == 0 else 0,
                "export_objects": len(report.export_objects) if n == 0 else 0,
            },
            "sequence_ranges": chunk,
            "skipped_on_hold": len(report.plan.held) if n == 0 else 0,
        }
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        out.append((f"retention-purged:{report.tenant}:{today.isoformat()}:{digest}", data))
    return out


def _rewrite(
    conn: psycopg.Connection, s3: Minio, bucket: str, key: str, rows: list[dict[str, Any]], gone: set[int]
) -> None:
    """Step 4 for one file: same name, purged rows as stubs, the old version removed."""
    payload = parquet_bytes(stub_of(r) if r["sequence"] in gone and not r["stub"] else r for r in rows)
    put_replacing(s3, bucket, key, payload)  # the old version still holds the data: removed
    conn.execute(
        "update archive_files set size_bytes = %s, sha256 = %s where key = %s",
        [len(payload), hashlib.sha256(payload).hexdigest(), key],
    )


def purge_tenant(
    settings: Settings,
    tenant: str,
    *,
    today: date | None = None,
    dry_run: bool = False,
    database: str | None = None,
    held_for: Callable[[psycopg.Connection, str], HeldPredicate] = held_predicate,
) -> PurgeReport:
    """Purge one tenant (module docstring for the order); a dry run changes nothing."""
    day = today or datetime.now(UTC).date()
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        held = held_for(conn, tenant)
        cutoffs = policy_of(conn, tenant).cutoffs(day)
        by_file = _tenant_rows(s3, bucket, tenant, max(cutoffs.learner_events, cutoffs.mutations))
        plan = plan_purge((r for rows in by_file.values() for r in rows), cutoffs, held)
        report = PurgeReport(tenant, cutoffs, plan)
        gone = set(plan.sequences)
        report.files = sorted(k for k, rows in by_file.items() if any(r["sequence"] in gone for r in rows))
        report.read_model_rows = _learner_rows(conn, tenant, cutoffs.learner_events)
        report.export_objects = _expired_exports(conn, tenant, cutoffs.exports, held)
        if dry_run or not (gone or report.export_objects or any(report.read_model_rows.values())):
            return report
        writer = InboxWriter(settings.kafka)
        try:
            # 2. the receipts first: no stub is ever without one
            for event_id, data in _receipts(report, day):
                append_system_event(writer, tenant, "retention.purged", data, event_id)
                report.receipts.append(event_id)
            # 3. export objects (the read models drop their rows when they fold the receipt)
            _expire_exports(settings, writer, report.export_objects)
        finally:
            writer.close()
        # 4. the archive, file by file
        for key in report.files:
            _rewrite(conn, s3, bucket, key, by_file[key], gone)
    log.info("retention.purged", tenant=tenant, stubs=len(gone), held=len(plan.held), files=len(report.files))
    return report


def known_tenants(settings: Settings, database: str | None = None) -> list[str]:
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        rows = conn.execute(f"select tenant_id from {READ_MODEL_SCHEMA}.tenants order by 1").fetchall()
    return [r[0] for r in rows]


RETENTION_LOCK = 0x5C11_12  # with the tenant's hash: one purge per tenant at a time


def beat(settings: Settings, now: datetime | None = None, database: str | None = None) -> list[PurgeReport]:
    """The scheduler's hourly task: purge each tenant whose cadence says now."""
    at = now or datetime.now(UTC)
    reports = []
    for tenant in known_tenants(settings, database):
        with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
            if not policy_of(conn, tenant).due(at):
                continue
            locked = conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))", [RETENTION_LOCK, tenant]).fetchone()
            if not locked or not locked[0]:
                continue  # another scheduler purges this tenant now
            try:
                reports.append(purge_tenant(settings, tenant, today=at.date(), database=database))
            finally:
                conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", [RETENTION_LOCK, tenant])
    return reports
