"""The read-model tables as data: name, key, columns, and how a newer row merges.

Folds emit :class:`Upsert` changes against these definitions; two generic
appliers (PostgreSQL in ``store.py``, memory in ``memory.py``) carry them out, so a
projection's rules live only in its fold. ``migrations/0002_read_models.sql``
creates the same tables; a test checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Merge = Literal["replace", "keep_first", "keep_min_day"]


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    merge: Merge = "replace"

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + self.values


@dataclass(frozen=True)
class Upsert:
    table: Table
    row: dict[str, Any]

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(self.row[c] for c in self.table.key)


T = Table
# -- directory ---------------------------------------------------------------------
TENANTS = T("tenants", ("tenant_id",), ("name", "created_sequence"), "keep_first")
USERS = T("users", ("tenant_id", "user_id"), ("display_name", "email", "roles"))
PROGRAMS = T("programs", ("tenant_id", "program_id"), ("name", "owner_id", "pace_days"))
COHORTS = T("cohorts", ("tenant_id", "cohort_id"), ("program_id", "name"))
ENROLMENTS = T("enrolments", ("tenant_id", "learner_id"), ("cohort_id", "enrolled_sequence"))
MANAGER_LINKS = T("manager_links", ("tenant_id", "learner_id"), ("manager_id",))
MENTOR_LINKS = T("mentor_links", ("tenant_id", "learner_id", "mentor_id"), (), "keep_first")
# -- activity facts (each dated by its own date field, else by `time`) -----------------
SIGNIN_DAYS = T("signin_days", ("tenant_id", "learner_id", "day"), (), "keep_first")
ACTIVITY_DAYS = T("activity_days", ("tenant_id", "learner_id", "day"), (), "keep_first")
SESSIONS = T("sessions", ("tenant_id", "session_id"), ("cohort_id", "starts_on"))
ATTENDANCE = T("attendance", ("tenant_id", "session_id", "learner_id"), (), "keep_first")
PHASE_ADVANCES = T("phase_advances", ("tenant_id", "event_id"),
                   ("learner_id", "program_id", "phase", "final", "day"), "keep_first")
ASSIGNMENTS = T("assignments", ("tenant_id", "assignment_id"), ("cohort_id", "due_on"))
SUBMISSIONS = T("submissions", ("tenant_id", "assignment_id", "learner_id"), ("day",), "keep_min_day")
# -- scores --------------------------------------------------------------------------
DAILY_SCORES = T("daily_scores", ("tenant_id", "learner_id", "day"),
                 ("cohort_id", "program_id", "score", "signin", "attendance", "progress",
                  "submissions", "at_risk", "active_7d", "completed", "tick_sequence"))

ALL_TABLES: tuple[Table, ...] = (
    TENANTS, USERS, PROGRAMS, COHORTS, ENROLMENTS, MANAGER_LINKS, MENTOR_LINKS, SIGNIN_DAYS,
    ACTIVITY_DAYS, SESSIONS, ATTENDANCE, PHASE_ADVANCES, ASSIGNMENTS, SUBMISSIONS, DAILY_SCORES,
)
