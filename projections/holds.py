"""Which records a legal hold covers: the one rule that audit search, audit export and
retention all apply.

A hold of tenant T with scope S, ``scope_id`` X and time range [from, to] covers a record
of T whose ``time`` lies in the range (an absent bound is open) and that S-references X:

| scope | the record references X when |
|---|---|
| ``tenant`` | always (every record of T) |
| ``learner`` | ``data.learner_id`` = X, or ``data.user_id`` = X when it has no learner_id |
| ``program`` | ``data.program_id`` = X |
| ``cohort`` | ``data.cohort_id`` = X |
| ``event_type`` | ``type`` = X |

A hold is active from its placement until a ``legal_hold.released`` of the same
``hold_id`` appended after it. The rule is written once, as :data:`SCOPE_COLUMNS` (the
record attribute each scope compares), and rendered twice: :func:`covers` here for
records in hand (the audit export), ``projections.holds_sql`` for rows of ``audit_index``
(search, retention). A property test proves both renderings agree.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.types import parse_utc

# scope -> the reference (an ``audit_index`` column, a RecordRefs field) it compares with
# scope_id; None: the scope holds every record of the tenant.
SCOPE_COLUMNS: dict[str, str | None] = {
    "tenant": None,
    "learner": "learner_id",
    "program": "program_id",
    "cohort": "cohort_id",
    "event_type": "type",
}


@dataclass(frozen=True)
class RecordRefs:
    """What a hold can select a record by (also the hold columns of ``audit_index``)."""

    tenant_id: str
    type: str
    time: datetime
    learner_id: str | None = None
    program_id: str | None = None
    cohort_id: str | None = None


@dataclass(frozen=True)
class Hold:
    """An active legal hold (``legal_holds`` without a later release)."""

    hold_id: str
    tenant_id: str
    scope: str
    scope_id: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None


def log_time(text: str) -> datetime:
    """A time of an admitted log record (already judged by ``parse_utc``), read fast when it is
    in the log's normal form (``format_utc``: seconds or microseconds, then ``Z``), else by
    ``parse_utc`` itself — the same value either way."""
    if len(text) in (20, 27) and text[-1] == "Z" and text[10] == "T":
        return datetime.fromisoformat(text)
    return parse_utc(text)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def refs_of(record: Mapping[str, Any]) -> RecordRefs:
    """The references of a log record (a validated one: ``time`` parses, ``data`` is an object).

    The learner is ``data.learner_id``, else ``data.user_id`` (the person a directory
    mutation is about); ids that are not strings reference nothing."""
    raw = record.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    learner = _text(data.get("learner_id")) or _text(data.get("user_id"))
    return RecordRefs(
        tenant_id=record["tenantid"],
        type=record["type"],
        time=log_time(record["time"]),
        learner_id=learner,
        program_id=_text(data.get("program_id")),
        cohort_id=_text(data.get("cohort_id")),
    )


def covers(hold: Hold, refs: RecordRefs) -> bool:
    """True when ``hold`` covers the record with ``refs`` (the rule in the module docstring)."""
    if hold.tenant_id != refs.tenant_id:
        return False
    if hold.from_time is not None and refs.time < hold.from_time:
        return False
    if hold.to_time is not None and refs.time > hold.to_time:
        return False
    column = SCOPE_COLUMNS.get(hold.scope, "")
    if column is None:
        return True
    if not column:  # a scope this code does not know holds nothing it can name
        return False
    return bool(getattr(refs, column) == hold.scope_id)


def holds_covering(holds: Iterable[Hold], refs: RecordRefs) -> list[str]:
    """Ids of the ``holds`` that cover the record, sorted (what an export's hold_ids cell lists)."""
    return sorted(h.hold_id for h in holds if covers(h, refs))


def hold_from_row(row: Mapping[str, Any]) -> Hold:
    """A :class:`Hold` from a ``legal_holds`` row (or any mapping with its columns)."""
    return Hold(
        hold_id=row["hold_id"],
        tenant_id=row["tenant_id"],
        scope=row["scope"],
        scope_id=row.get("scope_id"),
        from_time=_time(row.get("from_time")),
        to_time=_time(row.get("to_time")),
    )


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # from PostgreSQL: aware, in the session's time zone
        return value.astimezone(UTC)
    return None if value is None else parse_utc(value)
