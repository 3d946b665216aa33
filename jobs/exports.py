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
    """The log worker's handler: one ``export.run`` per requested export."""
    data = record["data"]
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
        params = ExportParams.model_validate(job["params"])
        self._append(tenant, "export.started", {"export_id": export_id}, "started")
        with psycopg.connect(self.settings.postgres.conninfo(self.database)) as conn:
            refusal = export_refusal(conn, principal, export_format, params, self.settings.exports.bulk_rows)
            if refusal:
                reason = refusal[1]
                self._append(
                    tenant,
                    "export.failed",
                    {"export_id": export_id, "requested_by": principal.user_id, "reason": reason},
                    "failed",
                )
                log.info("export.refused", tenant=tenant, export_id=export_id, reason=reason)
                return
            with tempfile.TemporaryFile() as spool:
                counted = self._write(conn, principal, export_format, params, spool)
                key = object_key(tenant, export_id, export_format)
                spool.seek(0)
                self.s3.put_object(
                    self.settings.s3.exports_bucket,
                    key,
                    spool,
                    length=counted.size_bytes,
                    content_type=CONTENT_TYPES[export_format],
                    part_size=PART_SIZE,
                )
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=self.settings.exports.ttl_hours)
        data = {
            "export_id": export_id,
            "requested_by": principal.user_id,
            "object_key": key,
            "content_type": CONTENT_TYPES[export_format],
            "size_bytes": counted.size_bytes,
            "rows": counted.rows,
            "sha256": counted.sha256,
            "expires_at": format_utc(expires),
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
    return LogWorker("exports", settings, frozenset({"export.requested"}), queue_export, database=database)


def exports_dispatcher(settings: Settings, database: str | None = None) -> Dispatcher:
    runner = ExportRunner(settings, database)

    def gave_up(job: Mapping[str, Any]) -> None:
        data = {"export_id": job["export_id"], "requested_by": job["requested_by"], "reason": "the export kept failing"}
        runner._append(job["_tenant"], "export.failed", data, "failed")

    return Dispatcher(settings, {RUN: runner}, on_dead={RUN: gave_up}, database=database)
