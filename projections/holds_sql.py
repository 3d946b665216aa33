"""The legal-hold rule of ``projections/holds.py`` rendered as SQL over ``audit_index`` rows.

Built from the same :data:`~projections.holds.SCOPE_COLUMNS` as the Python rule, so the
two cannot drift apart (a property test runs both on the same random holds and records).
Audit search filters and labels rows with it; retention keeps what it selects.
"""

from __future__ import annotations

from psycopg import sql

from projections.holds import SCOPE_COLUMNS


def _scope_matches(h: sql.Identifier, r: sql.Identifier) -> sql.Composable:
    branches = [
        sql.SQL("when {scope} then {test}").format(
            scope=sql.Literal(scope),
            test=sql.SQL("true")
            if column is None
            else sql.SQL("{r}.{c} = {h}.scope_id").format(r=r, c=sql.Identifier(column), h=h),
        )
        for scope, column in SCOPE_COLUMNS.items()
    ]
    # NULL (a record without that reference) and an unknown scope both mean "not covered".
    return sql.SQL("coalesce(case {h}.scope {branches} else false end, false)").format(
        h=h, branches=sql.SQL(" ").join(branches)
    )


def active_sql(schema: str, hold: str = "h") -> sql.Composable:
    """``hold`` (a ``legal_holds`` row) has no release appended after its placement."""
    h = sql.Identifier(hold)
    return sql.SQL(
        "not exists (select 1 from {rel} x where x.tenant_id = {h}.tenant_id and x.hold_id = {h}.hold_id "
        "and x.released_sequence > {h}.placed_sequence)"
    ).format(rel=sql.Identifier(schema, "legal_hold_releases"), h=h)


def covers_sql(hold: str = "h", record: str = "r") -> sql.Composable:
    """``hold`` (a ``legal_holds`` row) covers ``record`` (an ``audit_index`` row): same tenant,
    ``time`` within the range, the scope's reference equal to ``scope_id``."""
    h, r = sql.Identifier(hold), sql.Identifier(record)
    return sql.SQL(
        "{h}.tenant_id = {r}.tenant_id and ({h}.from_time is null or {r}.time >= {h}.from_time) "
        "and ({h}.to_time is null or {r}.time <= {h}.to_time) and {scope}"
    ).format(h=h, r=r, scope=_scope_matches(h, r))


def held_sql(schema: str, record: str = "r") -> sql.Composable:
    """True when an active hold covers ``record`` (an ``audit_index`` row): the ``on_hold`` filter
    of audit search, and what retention must never purge."""
    return sql.SQL("exists (select 1 from {holds} h where {covers} and {active})").format(
        holds=sql.Identifier(schema, "legal_holds"), covers=covers_sql("h", record), active=active_sql(schema)
    )


def hold_ids_sql(schema: str, record: str = "r") -> sql.Composable:
    """The sorted ids of the active holds covering ``record`` (a text array, empty when none)."""
    return sql.SQL("array(select h.hold_id from {holds} h where {covers} and {active} order by h.hold_id)").format(
        holds=sql.Identifier(schema, "legal_holds"), covers=covers_sql("h", record), active=active_sql(schema)
    )
