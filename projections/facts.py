"""The fold from log records to directory and activity facts: ``record -> [Upsert]``.

Pure: no I/O, no clock. Every fact is keyed so that applying the same record twice
changes nothing (events are deduplicated by ``id`` through their keys). Each event
is dated by its own date field where it has one (``starts_at``, ``due_at``) and
otherwise by ``time``, in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from projections import outcomes
from projections import tables as t
from projections.holds import log_time
from projections.personal import ERASED
from projections.tables import Upsert
from schemas.registry import MODELS

Record = Mapping[str, Any]


def utc_date(text: str) -> date:
    """The UTC day of a time in the log, read by the contract's one parser (by its fast
    reading of the log's normal form, ``holds.log_time``, which gives the same value)."""
    return log_time(text).date()


def _activity(record: Record, learner: str) -> Upsert:
    return Upsert(
        t.ACTIVITY_DAYS,
        {"tenant_id": record["tenantid"], "learner_id": learner, "day": utc_date(record["time"])},
    )


def _signed_in(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    day = utc_date(r["time"])
    return [
        Upsert(t.SIGNIN_DAYS, {"tenant_id": r["tenantid"], "learner_id": d["learner_id"], "day": day}),
        _activity(r, d["learner_id"]),
    ]


def _session_scheduled(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.SESSIONS,
            {
                "tenant_id": r["tenantid"],
                "session_id": d["session_id"],
                "cohort_id": d["cohort_id"],
                "starts_on": utc_date(d["starts_at"]),
            },
        )
    ]


def _session_attended(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.ATTENDANCE,
            {"tenant_id": r["tenantid"], "session_id": d["session_id"], "learner_id": d["learner_id"]},
        ),
        _activity(r, d["learner_id"]),
    ]


def _phase_advanced(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.PHASE_ADVANCES,
            {
                "tenant_id": r["tenantid"],
                "event_id": r["id"],
                "learner_id": d["learner_id"],
                "program_id": d["program_id"],
                "phase": d["phase"],
                "final": d["final"],
                "day": utc_date(r["time"]),
            },
        ),
        _activity(r, d["learner_id"]),
    ]


def _assignment_due(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.ASSIGNMENTS,
            {
                "tenant_id": r["tenantid"],
                "assignment_id": d["assignment_id"],
                "cohort_id": d["cohort_id"],
                "due_on": utc_date(d["due_at"]),
            },
        )
    ]


def _submission_made(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.SUBMISSIONS,
            {
                "tenant_id": r["tenantid"],
                "assignment_id": d["assignment_id"],
                "learner_id": d["learner_id"],
                "day": utc_date(r["time"]),
            },
        ),
        _activity(r, d["learner_id"]),
    ]


def _tenant_created(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [Upsert(t.TENANTS, {"tenant_id": r["tenantid"], "name": d["name"], "created_sequence": r["sequence"]})]


def _program_created(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.PROGRAMS,
            {
                "tenant_id": r["tenantid"],
                "program_id": d["program_id"],
                "name": d["name"],
                "owner_id": d["owner_id"],
                "pace_days": d["pace_days"],
            },
        )
    ]


def _cohort_created(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(
            t.COHORTS,
            {
                "tenant_id": r["tenantid"],
                "cohort_id": d["cohort_id"],
                "program_id": d["program_id"],
                "name": d["name"],
            },
        )
    ]


def _user_registered(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    # ``d`` is projections.personal.directory_data: names opened, or erased.
    tenant = r["tenantid"]
    unsealed = {"tenant_id": tenant, "subject_id": d["user_id"], "sequence": r["sequence"]}
    return [
        Upsert(
            t.USERS,
            {
                "tenant_id": tenant,
                "user_id": d["user_id"],
                "display_name": d["display_name"],
                "email": d["email"],
            },
        ),
        *(_role(tenant, d["user_id"], role, True) for role in d["roles"]),
        *([] if d.get("sealed", True) else [Upsert(t.UNSEALED_RECORDS, unsealed)]),
    ]


def _subject_erased(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    """The subject's directory row blanked exactly as an unreadable seal reads
    (``projections.personal.ERASED``); roles, links and aggregates stay."""
    tenant, subject = r["tenantid"], d["subject_id"]
    erased = {
        "tenant_id": tenant,
        "subject_id": subject,
        "erased_sequence": r["sequence"],
        "erased_at": log_time(r["time"]),
    }
    named = ({"tenant_id": tenant, "sequence": s, "subject_id": subject} for s in d.get("unsealed_sequences", ()))
    return [
        Upsert(t.USERS, {"tenant_id": tenant, "user_id": subject, **ERASED}),
        Upsert(t.ERASURES, erased),
        *(Upsert(t.ERASED_RECORDS, row) for row in named),
    ]


def _role(tenant: str, user: str, role: str, granted: bool) -> Upsert:
    return Upsert(t.USER_ROLES, {"tenant_id": tenant, "user_id": user, "role": role, "granted": granted})


def _role_granted(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_role(r["tenantid"], d["user_id"], d["role"], True)]


def _role_revoked(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_role(r["tenantid"], d["user_id"], d["role"], False)]


def _learner_enrolled(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    # The latest enrolment replaces earlier ones: a learner is in one cohort at a time.
    return [
        Upsert(
            t.ENROLMENTS,
            {
                "tenant_id": r["tenantid"],
                "learner_id": d["learner_id"],
                "cohort_id": d["cohort_id"],
                "enrolled_sequence": r["sequence"],
            },
        )
    ]


def _manager_assigned(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    # One direct manager: the latest assignment wins.
    return [
        Upsert(
            t.MANAGER_LINKS,
            {"tenant_id": r["tenantid"], "learner_id": d["learner_id"], "manager_id": d["manager_id"]},
        )
    ]


def _mentor_assigned(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    # Mentors accumulate: a learner may have several.
    return [
        Upsert(
            t.MENTOR_LINKS,
            {"tenant_id": r["tenantid"], "learner_id": d["learner_id"], "mentor_id": d["mentor_id"]},
        )
    ]


def _settings_changed(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    weights = d.get("weights") or {}
    return [
        Upsert(
            t.TENANT_SETTINGS,
            {
                "tenant_id": r["tenantid"],
                "window_days": d.get("window_days"),
                **{f"weight_{name}": weights.get(name) for name in ("signin", "attendance", "progress", "submissions")},
                "at_risk_below": d.get("at_risk_below"),
                "target": d.get("target"),
            },
        )
    ]


def _retention_policy_set(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    names = ("learner_events_days", "mutations_days", "exports_days", "cadence", "hour")
    return [Upsert(t.RETENTION_POLICIES, {"tenant_id": r["tenantid"], **{n: d[n] for n in names}})]


def _retention_purged(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    # The row's write removes the expired learner-day rows (projections/purge.py).
    row = {
        "tenant_id": r["tenantid"],
        "sequence": r["sequence"],
        "learner_events_before": date.fromisoformat(d["learner_events_before"]),
        "mutations_before": date.fromisoformat(d["mutations_before"]),
    }
    return [Upsert(t.RETENTION_CUTS, row)]


FOLDS: dict[str, Callable[[Record, Mapping[str, Any]], list[Upsert]]] = {
    "learner.signed_in": _signed_in,
    "session.scheduled": _session_scheduled,
    "session.attended": _session_attended,
    "phase.advanced": _phase_advanced,
    "assignment.due": _assignment_due,
    "submission.made": _submission_made,
    "tenant.created": _tenant_created,
    "program.created": _program_created,
    "cohort.created": _cohort_created,
    "user.registered": _user_registered,
    "subject.erased": _subject_erased,
    "learner.enrolled": _learner_enrolled,
    "manager.assigned": _manager_assigned,
    "mentor.assigned": _mentor_assigned,
    "tenant.settings_changed": _settings_changed,
    "role.granted": _role_granted,
    "role.revoked": _role_revoked,
    "retention.policy_set": _retention_policy_set,
    "retention.purged": _retention_purged,
}


FOLDS.update(outcomes.FOLDS)


# The learner events a score reads, each with the field that dates it for the score.
DATED_BY: dict[str, str] = {
    "learner.signed_in": "time",
    "session.scheduled": "starts_at",
    "session.attended": "time",
    "phase.advanced": "time",
    "assignment.due": "due_at",
    "submission.made": "time",
}


def fact_day(record: Record) -> date | None:
    """The UTC day a learner event is dated on for the score (``starts_at``/``due_at`` where
    it has one, else ``time``); None for records no score reads (mutations, ticks, outcomes)."""
    field = DATED_BY.get(record["type"])
    if field is None:
        return None
    return utc_date(record["time"] if field == "time" else record["data"][field])


def _dated(record: Record) -> list[Upsert]:
    """The fact's day now holds a fact at this sequence (``day_versions``; projections/late.py)."""
    day = fact_day(record)
    if day is None:
        return []
    row = {"tenant_id": record["tenantid"], "day": day, "fact_sequence": record["sequence"], "scored_sequence": None}
    return [Upsert(t.DAY_VERSIONS, row)]


def fact_changes(record: Record) -> list[Upsert]:
    """The facts a log record establishes, the version of its fact day, and its count in the
    audit trail's daily volume."""
    fold = FOLDS.get(record["type"])
    return [*(fold(record, record["data"]) if fold else []), *_dated(record), counted(record)]


def counted(record: Record) -> Upsert:
    """One more record of its type on its append day (the audit trail's volume)."""
    model = MODELS.get((record["type"], record.get("schemaversion", 1)))
    return Upsert(
        t.EVENT_DAYS,
        {
            "tenant_id": record["tenantid"],
            "type": record["type"],
            "day": utc_date(record["appendedat"]),
            "kind": model.KIND if model else "other",
            "count": 1,
        },
    )
