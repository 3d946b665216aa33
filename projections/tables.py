"""The read-model tables as data: columns and types, key, indexes, and how a newer row merges.

Folds emit :class:`Upsert` changes against these definitions; two generic appliers
(PostgreSQL in ``store.py``, memory in ``memory.py``) carry them out, so a
projection's rules live only in its fold. Read models are disposable: their DDL is
generated from these definitions into a schema of their own, and a change of shape
is rolled out by ``skillmind replay``, never by migrating rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any, Literal

Merge = Literal["replace", "keep_first", "keep_min_day", "coalesce", "add_count"]


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...] = ()
    merge: Merge = "replace"
    indexes: tuple[tuple[str, ...], ...] = ()

    @cached_property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.key)

    @cached_property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.values)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return self.key_columns + self.value_columns

    @cached_property
    def _key_getter(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        getter = itemgetter(*self.key_columns)
        return (lambda row: (getter(row),)) if len(self.key_columns) == 1 else getter

    @cached_property
    def _row_getter(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        getter = itemgetter(*self.columns)
        return (lambda row: (getter(row),)) if len(self.columns) == 1 else getter

    def key_of(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The row's key values, in key order."""
        return self._key_getter(row)

    def row_tuple(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The row's values in column order."""
        return self._row_getter(row)


@dataclass(frozen=True)
class Upsert:
    table: Table
    row: dict[str, Any]

    @property
    def key(self) -> tuple[Any, ...]:
        return self.table.key_of(self.row)


TENANT = ("tenant_id", "text")
LEARNER = ("learner_id", "text")
DAY = ("day", "date")

# -- directory ---------------------------------------------------------------------------
TENANTS = Table("tenants", (TENANT,), (("name", "text"), ("created_sequence", "bigint")), "keep_first")
TENANT_SETTINGS = Table(
    "tenant_settings",
    (TENANT,),
    (
        ("window_days", "integer"),
        ("weight_signin", "integer"),
        ("weight_attendance", "integer"),
        ("weight_progress", "integer"),
        ("weight_submissions", "integer"),
        ("at_risk_below", "integer"),
        ("target", "integer"),
    ),
    "coalesce",
)
USERS = Table("users", (TENANT, ("user_id", "text")), (("display_name", "text"), ("email", "text")))
# Subjects erased (subject.erased): their users row reads "[erased]" with a null e-mail.
ERASURES = Table(
    "erasures",
    (TENANT, ("subject_id", "text")),
    (("erased_sequence", "bigint"), ("erased_at", "timestamptz")),
    "keep_first",
)
# Records holding a subject's personal fields in plaintext (written before encryption existed).
UNSEALED_RECORDS = Table("unsealed_records", (TENANT, ("subject_id", "text"), ("sequence", "bigint")), (), "keep_first")
# Plaintext records an erasure receipt (subject.erased) names: the archive rewrite redacts them.
ERASED_RECORDS = Table("erased_records", (TENANT, ("sequence", "bigint")), (("subject_id", "text"),), "keep_first")
USER_ROLES = Table("user_roles", (TENANT, ("user_id", "text"), ("role", "text")), (("granted", "boolean"),))
# enabled null: never set (on); roles null or empty: every role may use it.
TENANT_CAPABILITIES = Table(
    "tenant_capabilities", (TENANT, ("capability", "text")), (("enabled", "boolean"), ("roles", "text[]")), "coalesce"
)
PROGRAMS = Table(
    "programs",
    (TENANT, ("program_id", "text")),
    (("name", "text"), ("owner_id", "text"), ("pace_days", "integer")),
    indexes=(("tenant_id", "owner_id"),),
)
COHORTS = Table("cohorts", (TENANT, ("cohort_id", "text")), (("program_id", "text"), ("name", "text")))
ENROLMENTS = Table(
    "enrolments",
    (TENANT, LEARNER),
    (("cohort_id", "text"), ("enrolled_sequence", "bigint")),
    indexes=(("tenant_id", "cohort_id"),),
)
MANAGER_LINKS = Table(
    "manager_links", (TENANT, LEARNER), (("manager_id", "text"),), indexes=(("tenant_id", "manager_id"),)
)
MENTOR_LINKS = Table(
    "mentor_links",
    (TENANT, LEARNER, ("mentor_id", "text")),
    (),
    "keep_first",
    indexes=(("tenant_id", "mentor_id"),),
)
# -- activity facts ------------------------------------------------------------------------
SIGNIN_DAYS = Table("signin_days", (TENANT, LEARNER, DAY), (), "keep_first", indexes=(("tenant_id", "day"),))
ACTIVITY_DAYS = Table("activity_days", (TENANT, LEARNER, DAY), (), "keep_first", indexes=(("tenant_id", "day"),))
SESSIONS = Table(
    "sessions",
    (TENANT, ("session_id", "text")),
    (("cohort_id", "text"), ("starts_on", "date")),
    indexes=(("tenant_id", "starts_on"),),
)
ATTENDANCE = Table("attendance", (TENANT, ("session_id", "text"), LEARNER), (), "keep_first")
PHASE_ADVANCES = Table(
    "phase_advances",
    (TENANT, ("event_id", "text")),
    (LEARNER, ("program_id", "text"), ("phase", "integer"), ("final", "boolean"), DAY),
    "keep_first",
    indexes=(("tenant_id", "learner_id"),),
)
ASSIGNMENTS = Table(
    "assignments",
    (TENANT, ("assignment_id", "text")),
    (("cohort_id", "text"), ("due_on", "date")),
    indexes=(("tenant_id", "due_on"),),
)
SUBMISSIONS = Table("submissions", (TENANT, ("assignment_id", "text"), LEARNER), (DAY,), "keep_min_day")
# -- the audit trail's volume, per day and type (exactly once like every row, so counts add up) ---------
EVENT_DAYS = Table("event_days", (TENANT, ("type", "text"), DAY), (("kind", "text"), ("count", "bigint")), "add_count")
# -- scores ----------------------------------------------------------------------------------
# Keyed (tenant, day, learner): a tick writes one day of a tenant in key order, and the
# reports read one day (or a few) of a tenant; the key serves both without another index.
# No index by cohort or program: the scope figures (below) answer per-scope questions, and
# the role filters (api/scope.py) select learners of a tenant's day; the two indexes it had
# cost half of a 100k-learner tick's insert.
DAILY_SCORES = Table(
    "daily_scores",
    (TENANT, DAY, LEARNER),
    (
        ("cohort_id", "text"),
        ("program_id", "text"),
        ("score", "smallint"),
        ("signin", "numeric(7,6)"),
        ("attendance", "numeric(7,6)"),
        ("progress", "numeric(7,6)"),
        ("submissions", "numeric(7,6)"),
        ("at_risk", "boolean"),
        ("active_7d", "boolean"),
        ("completed", "boolean"),
        ("tick_sequence", "bigint"),
        ("computed_at", "timestamptz"),
    ),
)
# The figures of each tenant, program and cohort on a scored day, written by the tick in its
# transaction (projections/figures.py): exact integers, so tiles and series are lookups and
# every rate is rounded once, at the edge. ``scope_id`` is '' for the tenant scope and for
# learners without a program/cohort; a scope emptied by a later tick of the day keeps a row
# with ``learners`` 0.
SCOPE_FIGURES = Table(
    "scope_figures",
    (TENANT, DAY, ("scope", "text"), ("scope_id", "text")),
    (
        ("learners", "integer"),
        ("median_x2", "integer"),
        ("weekly_active", "integer"),
        ("completed", "integer"),
        ("at_risk", "integer"),
        ("tick_sequence", "bigint"),
        ("computed_at", "timestamptz"),
    ),
)

# Late events (issue 14; the rule: projections/late.py): per tenant and day, the sequence of
# the last learner fact dated that day (written by the fold) and of the last tick that scored
# the day (written by the tick). Each writer fills in its own column (``coalesce``), so the
# fold stays ``record -> [Upsert]`` and a replay writes the same rows.
DAY_VERSIONS = Table(
    "day_versions", (TENANT, DAY), (("fact_sequence", "bigint"), ("scored_sequence", "bigint")), "coalesce"
)

# -- exports and notifications (issue 10): each event fills in its part of the row --------------
EXPORTS = Table(
    "exports",
    (TENANT, ("export_id", "text")),
    (
        ("status", "text"),
        ("format", "text"),
        ("params", "text"),
        ("requested_by", "text"),
        ("roles", "text[]"),
        ("requested_sequence", "bigint"),
        ("requested_at", "timestamptz"),
        ("started_at", "timestamptz"),
        ("completed_at", "timestamptz"),
        ("object_key", "text"),
        ("content_type", "text"),
        ("size_bytes", "bigint"),
        ("rows", "bigint"),
        ("sha256", "text"),
        ("expires_at", "timestamptz"),
        ("reason", "text"),
        ("expired_at", "timestamptz"),
        ("manifest_key", "text"),
        ("legal_hold", "boolean"),
        ("hold_ids", "text[]"),
    ),
    "coalesce",
    indexes=(("tenant_id", "requested_by"), ("status", "expires_at")),
)
NOTIFICATION_PREFERENCES = Table("notification_preferences", (TENANT, ("user_id", "text")), (("email", "boolean"),))
WEBHOOKS = Table(
    "webhooks",
    (TENANT, ("webhook_id", "text")),
    (("url", "text"), ("event_types", "text[]"), ("state", "text"), ("reason", "text")),
    "coalesce",
)
# The in-app bell: one row per (export outcome, recipient), read state folded from notification.read.
NOTIFICATIONS = Table(
    "notifications",
    (TENANT, ("notification_id", "text")),
    (
        ("user_id", "text"),
        ("sequence", "bigint"),
        ("type", "text"),
        ("export_id", "text"),
        ("title", "text"),
        ("created_at", "timestamptz"),
        ("read", "boolean"),
    ),
    "coalesce",
    indexes=(("tenant_id", "user_id", "sequence"),),
)

# -- retention (issue 12): the tenant's policy; no row means the documented defaults ----------
RETENTION_POLICIES = Table(
    "retention_policies",
    (TENANT,),
    (
        ("learner_events_days", "integer"),
        ("mutations_days", "integer"),
        ("exports_days", "integer"),
        ("cadence", "text"),
        ("hour", "integer"),
    ),
)
# Each retention.purged receipt, as written: writing a row removes the tenant's expired
# learner-day rows (projections/purge.py), so the purge is part of the fold and of replays.
RETENTION_CUTS = Table(
    "retention_cuts",
    (TENANT, ("sequence", "bigint")),
    (("learner_events_before", "date"), ("mutations_before", "date")),
    "keep_first",
)

# -- records the fold could not take (issue 8): one row per log record, keyed by where it sits ----
QUARANTINE = Table(
    "quarantine",
    (("log_partition", "integer"), ("log_offset", "bigint")),
    (
        ("tenant_id", "text"),
        ("sequence", "bigint"),
        ("record_id", "text"),
        ("type", "text"),
        ("rule", "text"),
        ("reason", "text"),
    ),
    "keep_first",
    indexes=(("tenant_id", "sequence"),),
)

# -- the audit trail (issue 11): one row per log record, ids and hashes, no personal data ------
AUDIT_INDEX = Table(
    "audit_index",
    (TENANT, ("sequence", "bigint")),
    (
        ("record_id", "text"),
        ("type", "text"),
        ("time", "timestamptz"),
        ("appendedat", "timestamptz"),
        ("actor", "text"),
        ("subject", "text"),
        # what a legal hold selects records by (projections/holds.py): opaque ids only
        ("learner_id", "text"),
        ("program_id", "text"),
        ("cohort_id", "text"),
        ("hash", "text"),
    ),
    "keep_first",
    indexes=(("tenant_id", "type", "sequence"), ("tenant_id", "actor", "sequence"), ("tenant_id", "time")),
)
# A placement and its release are two facts, each kept as first written: a release counts
# only when appended after the placement (released_sequence > placed_sequence).
LEGAL_HOLDS = Table(
    "legal_holds",
    (TENANT, ("hold_id", "text")),
    (
        ("scope", "text"),
        ("scope_id", "text"),
        ("from_time", "timestamptz"),
        ("to_time", "timestamptz"),
        ("case_reference", "text"),
        ("reason", "text"),
        ("placed_by", "text"),
        ("placed_sequence", "bigint"),
        ("placed_at", "timestamptz"),
    ),
    "keep_first",
)
LEGAL_HOLD_RELEASES = Table(
    "legal_hold_releases",
    (TENANT, ("hold_id", "text")),
    (("released_by", "text"), ("reason", "text"), ("released_sequence", "bigint"), ("released_at", "timestamptz")),
    "keep_first",
)

ALL_TABLES: tuple[Table, ...] = (
    TENANTS,
    TENANT_SETTINGS,
    TENANT_CAPABILITIES,
    USERS,
    ERASURES,
    UNSEALED_RECORDS,
    ERASED_RECORDS,
    USER_ROLES,
    PROGRAMS,
    COHORTS,
    ENROLMENTS,
    MANAGER_LINKS,
    MENTOR_LINKS,
    SIGNIN_DAYS,
    ACTIVITY_DAYS,
    SESSIONS,
    ATTENDANCE,
    PHASE_ADVANCES,
    ASSIGNMENTS,
    SUBMISSIONS,
    EVENT_DAYS,
    DAILY_SCORES,
    SCOPE_FIGURES,
    DAY_VERSIONS,
    EXPORTS,
    NOTIFICATION_PREFERENCES,
    WEBHOOKS,
    NOTIFICATIONS,
    RETENTION_POLICIES,
    RETENTION_CUTS,
    QUARANTINE,
    AUDIT_INDEX,
    LEGAL_HOLDS,
    LEGAL_HOLD_RELEASES,
)


def ddl(schema: str, *, later: Collection[str] = ()) -> str:
    """CREATE statements for every read-model table in ``schema``; the secondary indexes of
    the tables named in ``later`` are left out (a rebuild creates them after its load, with
    :func:`index_ddl`; the result is the same schema)."""
    statements = [f'create schema if not exists "{schema}"']
    for table in ALL_TABLES:
        columns = ", ".join(
            f"{name} {kind}" + (" not null" if (name, kind) in table.key else "")
            for name, kind in table.key + table.values
        )
        statements.append(
            f'create table "{schema}".{table.name} ({columns}, primary key ({", ".join(table.key_columns)}))'
        )
        if table.name not in later:
            statements += _indexes(schema, table)
    statements.append(
        f'create table "{schema}".positions (topic text not null, partition integer not null, '
        f"next_offset bigint not null, primary key (topic, partition))"
    )
    return ";\n".join(statements) + ";"


def _indexes(schema: str, table: Table) -> list[str]:
    return [
        f'create index {table.name}_ix{n} on "{schema}".{table.name} ({", ".join(index)})'
        for n, index in enumerate(table.indexes)
    ]


def index_ddl(schema: str, names: Collection[str]) -> list[str]:
    """The secondary indexes of the tables named in ``names`` (what ``ddl(later=names)`` left out)."""
    return [statement for table in ALL_TABLES if table.name in names for statement in _indexes(schema, table)]
