"""What an export reads and whether it may: the same query as the JSON endpoint
(``api.reports.rows_query``) in the requester's scope, and the capability rule checked
when the export is requested and again when it runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import sql

from api.auth import Principal
from api.reports import GROUP_COLUMNS, LEARNER_COLUMNS, GroupBy, latest_day, rows_query
from projections.capabilities import FORMAT_CAPABILITY, capability_refusal, export_capabilities
from schemas.v1 import ExportParams


@dataclass(frozen=True)
class ExportQuery:
    """The rows of one export: SQL, parameters, columns, the day it is about."""

    query: sql.Composed
    params: dict[str, Any]
    columns: tuple[str, ...]
    day: date | None
    group_by: GroupBy


def export_query(conn: Any, principal: Principal, export_format: str, params: ExportParams) -> ExportQuery:
    """``rows_query`` for the export, keeping only tenants whose format capability is on."""
    group_by = GroupBy(params.group_by)
    day = params.day or latest_day(conn, principal)
    query, values = rows_query(
        principal, day or date.min, group_by, params.program_id, params.cohort_id, FORMAT_CAPABILITY[export_format]
    )
    columns = LEARNER_COLUMNS if group_by is GroupBy.learner else GROUP_COLUMNS
    return ExportQuery(query, values, columns, day, group_by)


def export_refusal(
    conn: Any, principal: Principal, export_format: str, params: ExportParams, bulk_rows: int
) -> tuple[str, str] | None:
    """``(capability, reason)`` when the requester may not have this export, else None."""
    rows = 0
    if params.group_by == "learner":
        q = export_query(conn, principal, export_format, params)
        rows = conn.execute(sql.SQL("select count(*) from ({}) q").format(q.query), q.params).fetchone()[0]
    tenant_wide = principal.has("company_admin", "platform_admin") and not (params.program_id or params.cohort_id)
    for capability in export_capabilities(export_format, params.group_by, rows, tenant_wide, bulk_rows):
        reason = capability_refusal(conn, principal.tenant_id, principal.roles, capability)
        if reason:
            return capability, reason
    return None
