"""The fold of the audit trail: ``record -> [Upsert]`` for ``audit_index`` and legal holds.

Every record the fold admits gets one ``audit_index`` row — position, id, type, times,
actor, subject, hash and the ids a legal hold selects by (``projections/holds.py``),
never names, e-mails or other payload. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from projections import tables as t
from projections.holds import log_time, refs_of
from projections.tables import Upsert
from schemas.types import parse_utc

Record = Mapping[str, Any]


def index_row(record: Record) -> Upsert:
    """The record's row of ``audit_index``."""
    refs = refs_of(record)
    return Upsert(
        t.AUDIT_INDEX,
        {
            "tenant_id": record["tenantid"],
            "sequence": record["sequence"],
            "record_id": record["id"],
            "type": record["type"],
            "time": refs.time,
            "appendedat": log_time(record["appendedat"]),
            "actor": record.get("actor"),
            "subject": record.get("subject"),
            "learner_id": refs.learner_id,
            "program_id": refs.program_id,
            "cohort_id": refs.cohort_id,
            "hash": record["hash"],
        },
    )


def _optional_time(value: str | None) -> Any:
    return parse_utc(value) if value is not None else None


def _hold_placed(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.LEGAL_HOLDS,
            {
                "tenant_id": r["tenantid"],
                "hold_id": d["hold_id"],
                "scope": d["scope"],
                "scope_id": d.get("scope_id"),
                "from_time": _optional_time(d.get("from_time")),
                "to_time": _optional_time(d.get("to_time")),
                "case_reference": d["case_reference"],
                "reason": d["reason"],
                "placed_by": r.get("actor"),
                "placed_sequence": r["sequence"],
                "placed_at": log_time(r["appendedat"]),
            },
        )
    ]


def _hold_released(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.LEGAL_HOLD_RELEASES,
            {
                "tenant_id": r["tenantid"],
                "hold_id": d["hold_id"],
                "released_by": r.get("actor"),
                "reason": d["reason"],
                "released_sequence": r["sequence"],
                "released_at": log_time(r["appendedat"]),
            },
        )
    ]


HOLD_FOLDS: dict[str, Callable[[Record, Mapping[str, Any]], list[Upsert]]] = {
    "legal_hold.placed": _hold_placed,
    "legal_hold.released": _hold_released,
}


def audit_changes(record: Record) -> list[Upsert]:
    """The record's ``audit_index`` row, and the hold it places or releases if it does."""
    fold = HOLD_FOLDS.get(record["type"])
    return [index_row(record), *(fold(record, record["data"]) if fold else [])]
