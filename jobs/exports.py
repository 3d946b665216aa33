"""Background exports: a log worker that queues each ``export.requested``, and the effect
that runs it — the JSON endpoint's own query in the requester's scope, streamed to a file,
uploaded to the exports bucket, announced by ``export.completed`` (or ``export.failed``).

Exactly once, end to end: the worker enqueues ``export.run`` keyed by the export id in
the transaction that records its offset; the effect is idempotent by that id — the object
key is the export id (a re-run overwrites the same object) and every event it appends has
an id derived from the export id, which the sequencer deduplicates. States, in the log:
queued (requested) → running (started) → ready (completed) | failed → expired.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row

from api.auth import Principal
from api.exportquery import ExportQuery, export_query, export_refusal
from api.reports import build_report
from events.inbox import InboxWriter
from jobs.exportfiles import (
    CONTENT_TYPES,
    Counted,
    HashingWriter,
    NumericTextLoader,
    write_csv,
    write_parquet,
    write_pdf,
)
from jobs.logworker import LogWorker
from jobs.objectstore import make_client
from jobs.outbox import Dispatcher, enqueue
from projections.capabilities import capability_refusal
from schemas.examples import cloud_event
from schemas.types import format_utc
from schemas.v1 import ExportParams
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
RUN = "export.run"
PART_SIZE = 5 * 1024 * 1024  # S3's smallest part: the upload holds about one part in memory


def object_key(tenant: str, export_id: str, export_format: str) -> str:
    return f"{tenant}/{export_id}.{export_format}"


def queue_export(cur: psycopg.Cursor, record: dict[str, Any]) -> None:
    """The log worker's handler: one ``export.run`` per requested export (reports and audit)."""
    data = record["data"]
    if record["type"] == "audit.export_requested":
        data = {**data, "format": "audit", "params": data["range"]}
    payload = {k: data[k] for k in ("export_id", "format", "params", "requested_by", "roles")}
    enqueue(
        cur,
        RUN,
        f"{record['tenantid']}/{data['export_id']}",
        payload,
        tenant=record["tenantid"],
        recipient=data["requested_by"],
    )


def append_system_event(writer: InboxWriter, tenant: str, kind: str, data: dict[str, Any], event_id: str) -> None:
    """Append an event of the workers (actor ``system``) through the inbox, like everyone."""
    now = datetime.now(UTC).replace(microsecond=0)
    writer.append(
        [cloud_event(kind, data, tenant=tenant, event_id=event_id, time=now, source="/skillmind/jobs", actor="system")]
    )


class ExportRunner:
    """The ``export.run`` effect; one per dispatcher thread (it holds connections)."""

    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.settings, self.database = settings, database
        self.inbox = InboxWriter(settings.kafka)
        self.s3 = make_client(settings.s3)

    def close(self) -> None:
        self.inbox.close()

    def __call__(self, job: Mapping[str, Any]) -> None:
        tenant, export_id, export_format = job["_tenant"], job["export_id"], job["format"]
        principal = Principal(job["requested_by"], tenant, frozenset(job["roles"]))
        self._append(tenant, "export.started", {"export_id": export_id}, "started")
        if export_format == "audit":
            self._audit(job, principal)
            return
        params = ExportParams.model_validate(job["params"])
        with psycopg.connect(self.settings.postgres.conninfo(self.database)) as conn:
            refusal = export_refusal(conn, principal, export_format, params, self.settings.exports.bulk_rows)
            if refusal:
                self._fail(tenant, export_id, principal.user_id, refusal[1])
                return
            with tempfile.TemporaryFile() as spool:
                counted = self._write(conn, principal, export_format, params, spool)
                key = object_key(tenant, export_id, export_format)
                spool.seek(0)
                self._put(key, spool, counted.size_bytes, CONTENT_TYPES[export_format])
        self._complete(tenant, export_id, principal.user_id, export_format, key, counted)

    def _audit(self, job: Mapping[str, Any], principal: Principal) -> None:
        """CSV + signed manifest (``api/audit_exporter.py``); under S3 legal hold when the range
        touches a legal hold, and then kept past its TTL while the hold lasts (``jobs/expiry``)."""
        from api.audit import AuditExportRequest
        from api.audit_exporter import run_audit_export

        tenant, export_id = principal.tenant_id, job["export_id"]
        request = AuditExportRequest.model_validate(job["params"])
        with psycopg.connect(self.settings.postgres.conninfo(self.database)) as conn:
            refusal = capability_refusal(conn, tenant, principal.roles, "audit.export")
            if refusal:
                self._fail(tenant, export_id, principal.user_id, refusal)
                return
            with tempfile.TemporaryFile() as spool:
                sink = HashingWriter(spool)
                manifest = run_audit_export(self.settings, conn, tenant, request, sink)  # type: ignore[arg-type]
                if manifest is None:
                    self._fail(tenant, export_id, principal.user_id, "the range holds no record")
                    return
                key = object_key(tenant, export_id, "csv")
                spool.seek(0)
                self._put(key, spool, sink.size, "text/csv")
        body = json.dumps(manifest, sort_keys=True, indent=2).encode()
        manifest_key = f"{tenant}/{export_id}.manifest.json"
        self._put(manifest_key, io.BytesIO(body), len(body), "application/json")
        if manifest["legal_hold"]:
            for held in (key, manifest_key):  # the S3 server refuses to delete them now
                self.s3.enable_object_legal_hold(self.settings.s3.exports_bucket, held)
        extra = {"manifest_key": manifest_key, "legal_hold": manifest["legal_hold"], "hold_ids": manifest["hold_ids"]}
        counted = Counted(sink.size, manifest["row_count"], sink.digest.hexdigest())
        self._complete(tenant, export_id, principal.user_id, "audit", key, counted, extra)

    def _put(self, key: str, data: Any, length: int, content_type: str) -> None:
        bucket = self.settings.s3.exports_bucket
        self.s3.put_object(bucket, key, data, length=length, content_type=content_type, part_size=PART_SIZE)

    def _fail(self, tenant: str, export_id: str, user: str, reason: str) -> None:
        self._append(
            tenant, "export.failed", {"export_id": export_id, "requested_by": user, "reason": reason}, "failed"
        )
        log.info("export.refused", tenant=tenant, export_id=export_id, reason=reason)

    def _complete(
        self,
        tenant: str,
        export_id: str,
        user: str,
        export_format: str,
        key: str,
        counted: Counted,
        extra: dict[str, Any] | None = None,
    ) -> None:
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=self.settings.exports.ttl_hours)
        data = {
            "export_id": export_id,
            "requested_by": user,
            "object_key": key,
            "content_type": CONTENT_TYPES[export_format],
            "size_bytes": counted.size_bytes,
            "rows": counted.rows,
            "sha256": counted.sha256,
            "expires_at": format_utc(expires),
            **(extra or {}),
        }
        self._append(tenant, "export.completed", data, "completed")
        log.info("export.completed", tenant=tenant, export_id=export_id, rows=counted.rows, bytes=counted.size_bytes)

    def _append(self, tenant: str, kind: str, data: dict[str, Any], suffix: str) -> None:
        append_system_event(self.inbox, tenant, kind, data, f"{data['export_id']}:{suffix}")

    def _write(
        self, conn: psycopg.Connection, principal: Principal, export_format: str, params: ExportParams, spool: Any
    ) -> Counted:
        sink = HashingWriter(spool)
        q = export_query(conn, principal, export_format, params)
        if export_format == "pdf":
            report = build_report(
                conn, principal, q.day, q.group_by, params.program_id, params.cohort_id, params.weeks, with_rows=False
            )
            scope = f"{principal.tenant_id} · {', '.join(sorted(principal.roles))} {principal.user_id}"
            rows = write_pdf(
                report.model_dump(mode="json"),
                _dict_rows(conn, q),
                sink,
                title="Engagement report",
                scope=scope,
                generated_at=datetime.now(UTC),
            )
        elif export_format == "parquet":
            rows = write_parquet(
                _tuple_rows(conn, q), q.columns, q.group_by.value if q.group_by.value == "learner" else "group", sink
            )
        else:
            rows = write_csv(_tuple_rows(conn, q, numeric_as_text=True), q.columns, sink)
        sink.flush()
        return Counted(sink.size, rows, sink.digest.hexdigest())


def _tuple_rows(
    conn: psycopg.Connection, q: ExportQuery, *, numeric_as_text: bool = False
) -> Iterator[tuple[Any, ...]]:
    """Rows from a server-side cursor: constant memory for any number of rows.

    ``numeric_as_text`` keeps PostgreSQL's text of ``numeric`` values (what ``str(Decimal)``
    would print anyway) instead of building a ``Decimal`` per cell: CSV only prints them."""
    with conn.transaction(), conn.cursor(name="export_rows") as cur:
        if numeric_as_text:
            cur.adapters.register_loader("numeric", NumericTextLoader)
        cur.itersize = 20_000  # fewer round trips; ~2 MB of rows at a time
        cur.execute(q.query, q.params)
        yield from cur


def _dict_rows(conn: psycopg.Connection, q: ExportQuery) -> Iterator[dict[str, Any]]:
    with conn.transaction(), conn.cursor(name="export_rows", row_factory=dict_row) as cur:
        cur.itersize = 20_000  # fewer round trips; ~2 MB of rows at a time
        cur.execute(q.query, q.params)
        yield from cur


def exports_worker(settings: Settings, database: str | None = None) -> LogWorker:
    types = frozenset({"export.requested", "audit.export_requested"})
    return LogWorker("exports", settings, types, queue_export, database=database)


def exports_dispatcher(settings: Settings, database: str | None = None) -> Dispatcher:
    runner = ExportRunner(settings, database)

    def gave_up(job: Mapping[str, Any]) -> None:
        runner._fail(job["_tenant"], job["export_id"], job["requested_by"], "the export kept failing")

    return Dispatcher(settings, {RUN: runner}, on_dead={RUN: gave_up}, database=database)
