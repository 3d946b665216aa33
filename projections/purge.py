"""What a ``retention.purged`` receipt does to the read models, in the fold.

The receipt is a record of the log, so its effect is part of the fold: live tables, a
replay from Kafka (before a trim) and a replay from the archive all remove the same rows
at the same position. (Before, the purge job deleted rows itself and a replay from Kafka
brought them back.) The fold writes the receipt as a ``retention_cuts`` row; writing that
row removes, for its tenant, the learner-day rows (:data:`LEARNER_DAY_TABLES`) dated before
``learner_events_before`` — except every row of a learner whom a legal hold keeps.

**Kept learners** (the legal-hold rule of ``projections.holds``, applied to the audit trail
as it stands at the receipt's position): a learner is kept when an active hold covers any
record of the tenant that names them (``audit_index.learner_id``) and is dated before the
cutoff. Rendered twice, as SQL (:func:`purge_sql`, PostgreSQL writer) and in Python
(:func:`kept_learners`, the memory fold that tests compare against); a property test runs
both. The purge job asks the same SQL for its dry run (``jobs/retention.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from psycopg import sql

from projections import tables as t
from projections.holds import RecordRefs, covers, hold_from_row, log_time
from projections.holds_sql import held_sql

# Read-model tables with a learner and a day: rows before the learner-events cutoff go,
# unless a hold keeps their learner. Aggregates without a person stay (event_days, scope_figures).
LEARNER_DAY_TABLES: tuple[t.Table, ...] = (t.SIGNIN_DAYS, t.ACTIVITY_DAYS, t.DAILY_SCORES)


def cutoff_time(day: date) -> datetime:
    """The instant a date cutoff starts (UTC midnight): records dated before it are older."""
    return datetime.combine(day, time(0), UTC)


def purge_sql(schema: str, table: t.Table, *, count_only: bool = False) -> sql.Composed:
    """Delete (or count) ``table``'s rows of ``%(tenant)s`` dated before ``%(before)s`` (a
    date) whose learner no active hold keeps (``%(cutoff)s``: that date's UTC midnight)."""
    verb = sql.SQL("select count(*)") if count_only else sql.SQL("delete")
    return sql.SQL(
        "with kept as (select distinct r.learner_id from {audit} r where r.tenant_id = %(tenant)s "
        "and r.learner_id is not null and r.time < %(cutoff)s and {held}) "
        "{verb} from {target} x where x.tenant_id = %(tenant)s and x.day < %(before)s "
        "and x.learner_id not in (select learner_id from kept)"
    ).format(
        audit=sql.Identifier(schema, t.AUDIT_INDEX.name),
        held=held_sql(schema, "r"),
        verb=verb,
        target=sql.Identifier(schema, table.name),
    )


def purge_params(tenant: str, before: date) -> dict[str, Any]:
    return {"tenant": tenant, "before": before, "cutoff": cutoff_time(before)}


def _as_time(value: Any) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) else log_time(value)


def kept_learners(
    audit_rows: Iterable[Mapping[str, Any]],
    holds: Iterable[Mapping[str, Any]],
    releases: Iterable[Mapping[str, Any]],
    tenant: str,
    before: date,
) -> set[str]:
    """The Python rendering of the kept-learners rule (module docstring) over rows as the
    memory fold holds them: ``audit_index``, ``legal_holds``, ``legal_hold_releases``."""
    released = {(r["tenant_id"], r["hold_id"]): r["released_sequence"] for r in releases}
    active = [
        hold_from_row(h)
        for h in holds
        if h["tenant_id"] == tenant and released.get((tenant, h["hold_id"]), 0) <= h["placed_sequence"]
    ]
    cutoff = cutoff_time(before)
    kept = set()
    for row in audit_rows:
        if row["tenant_id"] != tenant or row["learner_id"] is None:
            continue
        when = _as_time(row["time"])
        if when >= cutoff:
            continue
        refs = RecordRefs(tenant, row["type"], when, row["learner_id"], row["program_id"], row["cohort_id"])
        if any(covers(hold, refs) for hold in active):
            kept.add(row["learner_id"])
    return kept
