"""A small hash-chained log for audit tests, made by the real sequencer rules (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from events.sequencing import Append, SequencerState
from schemas.examples import cloud_event
from schemas.validation import Valid, validate_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def events_for(tenant: str, count: int) -> list[dict[str, Any]]:
    """``tenant.created`` then a varied mix: learner events, directory mutations with names that
    need escaping, a subject a spreadsheet would read as a formula, a legal hold."""
    out = [cloud_event("tenant.created", {"tenant_id": tenant, "name": 'Acmé "Corp", Inc.\n'}, tenant=tenant)]
    for i in range(1, count):
        when = T0 + timedelta(hours=i)
        kind = i % 5
        if kind == 0:
            event = cloud_event(
                "user.registered",
                {
                    "user_id": f"l{i}",
                    "display_name": f'=HYPERLINK("x") Zoë {i} 🎓',
                    "email": f"l{i}@a.example",
                    "roles": ["learner"],
                },
                tenant=tenant,
                time=when,
                subject="=1+1",
                actor="admin-1",
            )
        elif kind == 1:
            event = cloud_event("learner.signed_in", {"learner_id": f"l{i - 1}"}, tenant=tenant, time=when)
        elif kind == 2:
            event = cloud_event(
                "learner.enrolled",
                {"learner_id": f"l{i - 2}", "cohort_id": "c1"},
                tenant=tenant,
                time=when,
                actor="admin-1",
                subject="-cohort",
            )
        elif kind == 3:
            event = cloud_event(
                "legal_hold.placed",
                {
                    "hold_id": f"h{i}",
                    "scope": "learner",
                    "scope_id": "l5",
                    "case_reference": "CASE-1",
                    "reason": 'keep, "all"\r\nof it',
                },
                tenant=tenant,
                time=when,
                actor="auditor-1",
            )
        else:
            event = cloud_event(
                "phase.advanced",
                {"learner_id": "l5", "program_id": "p1", "phase": i, "final": False},
                tenant=tenant,
                time=when,
            )
        out.append(event)
    return out


def chain(tenant: str, count: int) -> list[dict[str, Any]]:
    """``count`` records of one tenant, sequenced and hash-chained exactly as the sequencer does."""
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0 + timedelta(days=30))
    records = []
    for event in events_for(tenant, count):
        valid = validate_event(event)
        assert isinstance(valid, Valid), valid
        decision = batch.decide(valid)
        assert isinstance(decision, Append), decision
        records.append(decision.record)
    batch.commit()
    return records
