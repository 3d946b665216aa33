"""Run one audit export end to end: range and holds from the read models, records from the
log, the CSV and signed manifest from ``api/audit_export.py``. The export worker calls
:func:`run_audit_export`; uploading, links and notifications are its business."""

from __future__ import annotations

from typing import Any, BinaryIO

from api.audit import AuditExportRequest, export_range
from api.audit_export import write_audit_export
from api.audit_query import active_holds
from events.auditsign import load_private_key
from events.tenantlog import tenant_records
from skillmind.settings import Settings


def run_audit_export(
    settings: Settings, conn: Any, tenant: str, request: AuditExportRequest, out: BinaryIO
) -> dict[str, Any] | None:
    """Write ``tenant``'s export for ``request`` to ``out`` and return the signed manifest, or
    None when the range selects no record (nothing is written then).

    ``conn``: a psycopg connection to the read models. Raises ``AuditExportError`` when the
    log range does not verify (discard ``out``), ``LogError`` when Kafka cannot be read."""
    scope = export_range(conn, tenant, request)
    if scope is None:
        return None
    return write_audit_export(
        tenant_records(settings.kafka, tenant),
        out,
        tenant=tenant,
        scope=scope,
        signing_key=load_private_key(settings.audit.signing_key.get_secret_value()),
        holds=active_holds(conn, tenant),
        request=request.model_dump(mode="json", exclude_none=True),
    )
