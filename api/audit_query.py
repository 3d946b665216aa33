"""The audit read side: SQL over ``audit_index`` and the legal-hold tables.

Audit search, the hold endpoints and the audit export's range and holds all read through
here; whether a record is held comes from ``projections.holds_sql`` (the one rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from projections.holds import Hold, hold_from_row
from projections.holds_sql import active_sql, hold_ids_sql
from projections.runner import READ_MODEL_SCHEMA

RM = sql.Identifier(READ_MODEL_SCHEMA)


@dataclass(frozen=True)
class AuditFilters:
    """Filters of ``GET /v1/audit``: every given one must hold (times are the record's ``time``)."""

    types: tuple[str, ...] = ()
    actor: str | None = None
    subject: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    from_sequence: int | None = None
    to_sequence: int | None = None
    on_hold: bool | None = None


# filter field -> the condition it adds (parameters named after the field)
_CONDITIONS = {
    "types": "r.type = any(%(types)s)",
    "actor": "r.actor = %(actor)s",
    "subject": "r.subject = %(subject)s",
    "from_time": "r.time >= %(from_time)s",
    "to_time": "r.time <= %(to_time)s",
    "from_sequence": "r.sequence >= %(from_sequence)s",
    "to_sequence": "r.sequence <= %(to_sequence)s",
}


def _where(
    tenant: str, filters: AuditFilters, cursor: int | None, newest_first: bool
) -> tuple[sql.Composed, dict[str, Any]]:
    params: dict[str, Any] = {"tenant": tenant, "cursor": cursor, **filters.__dict__, "types": list(filters.types)}
    parts = [sql.SQL("r.tenant_id = %(tenant)s")]
    parts += [sql.SQL(c) for name, c in _CONDITIONS.items() if params[name] not in (None, [])]
    if filters.on_hold is not None:
        parts.append(sql.SQL("(cardinality(held.ids) > 0) = %(on_hold)s"))
    if cursor is not None:
        parts.append(sql.SQL("r.sequence < %(cursor)s" if newest_first else "r.sequence > %(cursor)s"))
    return sql.SQL(" and ").join(parts), params


def search_query(
    tenant: str, filters: AuditFilters, *, cursor: int | None, newest_first: bool, limit: int
) -> tuple[sql.Composed, dict[str, Any]]:
    """One page of ``tenant``'s audit index, ordered by sequence, after ``cursor`` (exclusive)."""
    where, params = _where(tenant, filters, cursor, newest_first)
    query = sql.SQL(
        "select r.tenant_id, r.sequence, r.record_id as id, r.type, r.time, r.appendedat, r.actor, r.subject, "
        "r.hash, held.ids as hold_ids from {rm}.audit_index r cross join lateral (select {ids} as ids) held "
        "where {where} order by r.sequence {direction} limit %(limit)s"
    ).format(
        rm=RM,
        ids=hold_ids_sql(READ_MODEL_SCHEMA, "r"),
        where=where,
        direction=sql.SQL("desc" if newest_first else "asc"),
    )
    return query, {**params, "limit": limit}


def search(
    conn: Any, tenant: str, filters: AuditFilters, *, cursor: int | None, newest_first: bool, limit: int
) -> list[dict[str, Any]]:
    """The rows of one page (dicts with ``hold_ids`` as a list)."""
    query, params = search_query(tenant, filters, cursor=cursor, newest_first=newest_first, limit=limit)
    with conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query, params).fetchall()
        return rows


_HOLD_COLUMNS = sql.SQL(
    "h.tenant_id, h.hold_id, h.scope, h.scope_id, h.from_time, h.to_time, h.case_reference, h.reason, "
    "h.placed_by, h.placed_sequence, h.placed_at, x.released_by, x.reason as release_reason, x.released_sequence, "
    "x.released_at"
)


def holds(conn: Any, tenant: str, *, active_only: bool = False, hold_id: str | None = None) -> list[dict[str, Any]]:
    """The tenant's legal holds with their release (if any, appended after the placement)."""
    query = sql.SQL(
        "select {cols} from {rm}.legal_holds h left join {rm}.legal_hold_releases x "
        "on x.tenant_id = h.tenant_id and x.hold_id = h.hold_id and x.released_sequence > h.placed_sequence "
        "where h.tenant_id = %(tenant)s and (%(hold)s::text is null or h.hold_id = %(hold)s) "
        "and (not %(active)s or {active}) order by h.placed_sequence"
    ).format(cols=_HOLD_COLUMNS, rm=RM, active=active_sql(READ_MODEL_SCHEMA, "h"))
    with conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(
            query, {"tenant": tenant, "hold": hold_id, "active": active_only}
        ).fetchall()
        return rows


def active_holds(conn: Any, tenant: str) -> list[Hold]:
    """The tenant's holds in force, for the audit export (``projections.holds.covers``)."""
    return [hold_from_row(row) for row in holds(conn, tenant, active_only=True)]


def sequence_bounds(
    conn: Any, tenant: str, from_time: datetime | None, to_time: datetime | None
) -> tuple[int | None, int | None]:
    """First and last sequence of the tenant's records appended in [from_time, to_time]
    (``appendedat`` never decreases along a tenant's log, so the range is contiguous)."""
    row = conn.execute(
        sql.SQL(
            "select min(sequence), max(sequence) from {rm}.audit_index where tenant_id = %(tenant)s "
            "and (%(f)s::timestamptz is null or appendedat >= %(f)s) "
            "and (%(t)s::timestamptz is null or appendedat <= %(t)s)"
        ).format(rm=RM),
        {"tenant": tenant, "f": from_time, "t": to_time},
    ).fetchone()
    return row[0], row[1]
