"""A valid example of every event type, and a builder for CloudEvents around them.

The examples appear in the published schemas and the AsyncAPI catalogue, and tests,
benchmarks and the demo build their events with :func:`cloud_event`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.types import format_utc

EXAMPLE_DATA: dict[str, dict[str, Any]] = {
    "learner.signed_in": {"learner_id": "learner-42"},
    "session.scheduled": {
        "session_id": "session-7",
        "cohort_id": "cohort-a",
        "starts_at": "2026-11-20T09:00:00Z",
    },
    "session.attended": {"session_id": "session-7", "learner_id": "learner-42"},
    "phase.advanced": {"learner_id": "learner-42", "program_id": "program-1", "phase": 2, "final": False},
    "assignment.due": {
        "assignment_id": "assignment-3",
        "cohort_id": "cohort-a",
        "due_at": "2026-11-25T17:00:00Z",
    },
    "submission.made": {"assignment_id": "assignment-3", "learner_id": "learner-42"},
    "tenant.created": {"tenant_id": "acme", "name": "Acme Corp"},
    "program.created": {
        "program_id": "program-1",
        "name": "Leadership Foundations",
        "owner_id": "owner-1",
        "pace_days": 14,
    },
    "cohort.created": {"cohort_id": "cohort-a", "program_id": "program-1", "name": "Autumn 2026"},
    "user.registered": {
        "user_id": "learner-42",
        "display_name": "Ada Lovelace",
        "email": "ada@acme.example",
        "roles": ["learner"],
    },
    "learner.enrolled": {"learner_id": "learner-42", "cohort_id": "cohort-a"},
    "manager.assigned": {"learner_id": "learner-42", "manager_id": "manager-9"},
    "mentor.assigned": {"learner_id": "learner-42", "mentor_id": "mentor-5"},
    "tenant.settings_changed": {
        "window_days": 28,
        "at_risk_below": 40,
        "target": 75,
        "weights": {"signin": 20, "attendance": 35, "progress": 25, "submissions": 20},
    },
    "engagement.recompute_requested": {"day": "2026-11-27"},
    "tenant.capabilities_changed": {"flags": {"exports.csv": True, "exports.pdf": False}},
    "role.granted": {"user_id": "manager-9", "role": "manager"},
    "role.revoked": {"user_id": "manager-9", "role": "mentor"},
    "export.requested": {
        "export_id": "exp-1",
        "format": "csv",
        "params": {"group_by": "program", "weeks": 8},
        "requested_by": "admin-1",
        "roles": ["company_admin"],
    },
    "audit.export_requested": {
        "export_id": "exp-2",
        "range": {"from_sequence": 1, "types": ["legal_hold.placed"]},
        "requested_by": "auditor-1",
        "roles": ["auditor"],
    },
    "export.started": {"export_id": "exp-1"},
    "export.completed": {
        "export_id": "exp-1",
        "requested_by": "admin-1",
        "object_key": "acme/exp-1.csv",
        "content_type": "text/csv",
        "size_bytes": 2048,
        "rows": 12,
        "sha256": "0" * 64,
        "expires_at": "2026-11-28T17:00:00Z",
    },
    "export.failed": {"export_id": "exp-1", "requested_by": "admin-1", "reason": "capability exports.csv is off"},
    "export.link_issued": {"export_id": "exp-1", "expires_at": "2026-11-27T18:00:00Z"},
    "export.expired": {"export_id": "exp-1", "reason": "ttl"},
    "notification.preferences_changed": {"user_id": "admin-1", "email": True},
    "notification.read": {"user_id": "admin-1", "notification_id": "n-1"},
    "webhook.subscribed": {
        "webhook_id": "wh-1",
        "url": "https://hooks.acme.example/skillmind",
        "event_types": ["export.completed"],
    },
    "webhook.unsubscribed": {"webhook_id": "wh-1"},
    "webhook.disabled": {"webhook_id": "wh-1", "reason": "failing since 2026-11-26T17:00:00Z"},
    "retention.policy_set": {
        "learner_events_days": 365,
        "mutations_days": 2555,
        "exports_days": 30,
        "cadence": "weekly",
        "hour": 3,
    },
    "retention.purged": {
        "tenant_id": "acme",
        "learner_events_before": "2025-11-27",
        "mutations_before": "2019-11-29",
        "exports_before": "2026-10-28",
        "counts": {"learner_events": 1200, "mutations": 0, "read_model_rows": 950, "export_objects": 3},
        "sequence_ranges": [[1, 40], [45, 1204]],
        "skipped_on_hold": 4,
    },
    "legal_hold.placed": {
        "hold_id": "hold-1",
        "scope": "learner",
        "scope_id": "learner-42",
        "from_time": "2026-01-01T00:00:00Z",
        "to_time": "2026-12-31T23:59:59Z",
        "case_reference": "CASE-2026-017",
        "reason": "Employment tribunal: keep the learner's training records.",
    },
    "legal_hold.released": {"hold_id": "hold-1", "reason": "Case closed."},
    "audit.checkpoint": {
        "tenant_id": "acme",
        "sequence": 1204,
        "head_hash": "9f" * 32,
        "key_id": "3a5c0e41d2b7f689",
        "signature": "A" * 86 + "==",
    },
    "subject.erased": {"subject_id": "learner-42", "unsealed_sequences": [12]},
}


def cloud_event(
    event_type: str,
    data: dict[str, Any],
    *,
    tenant: str,
    event_id: str | None = None,
    time: datetime | str | None = None,
    source: str = "/skillmind/tests",
    subject: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """A CloudEvent as a writer would send it (no log attributes)."""
    when = time or datetime.now(UTC)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or uuid.uuid4().hex,
        "source": source,
        "type": event_type,
        "time": when if isinstance(when, str) else format_utc(when),
        "tenantid": tenant,
        "datacontenttype": "application/json",
        "data": data,
    }
    if subject:
        event["subject"] = subject
    if actor:
        event["actor"] = actor
    return event
