"""The one dispatch from a log record to read-model changes, shared by every runner."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from projections import late
from projections import tables as t
from projections.audit import audit_changes
from projections.facts import counted, fact_changes
from projections.figures import scope_figure_rows
from projections.memory import MemoryTables
from projections.personal import Unseal, directory_data, never_unseal
from projections.scores import TICK_INPUTS, Rows, compute_day, score_rows, score_settings, tick_day
from projections.tables import Upsert
from schemas.types import ID_PATTERN, MAX_SAFE_INTEGER, NOT_IN_DIRECTORY
from schemas.v2 import UserRegistered
from schemas.validation import Invalid, Problem, validate_log_record

TICK = "engagement.recompute_requested"
# Scores a tick (an admitted record): returns its score changes, or writes them itself and
# returns [] (the PostgreSQL writer scores set-based, see projections/tick_store.py).
ScoreTick = Callable[[Mapping[str, Any]], list[Upsert]]


def order(record: Mapping[str, Any], applied: Mapping[str, int]) -> str:
    """Where a record stands against its tenant's applied sequence: ``"next"`` (apply it),
    ``"seen"`` (a redelivery: skip it) or ``"gap"`` (records are missing before it)."""
    expected = applied.get(record["tenantid"], 0) + 1
    if record["sequence"] < expected:
        return "seen"
    return "next" if record["sequence"] == expected else "gap"


def is_tick(record: Mapping[str, Any]) -> bool:
    return bool(record["type"] == TICK)


# Records whose changes read or remove rows that earlier records wrote (a tick scores the
# facts; a retention receipt removes expired rows): a batch writer writes what came before
# them first and what comes after them afterwards.
BATCH_BOUNDARIES = frozenset({TICK, "retention.purged"})


def is_boundary(record: Mapping[str, Any]) -> bool:
    return record["type"] in BATCH_BOUNDARIES


def changes_for(record: Mapping[str, Any], score_tick: ScoreTick) -> list[Upsert]:
    """Facts for an event; for a tick, the day's scores from the facts as they stand now;
    and for every record its place in the audit trail."""
    return [*_facts_or_scores(record, score_tick), *audit_changes(record)]


def _facts_or_scores(record: Mapping[str, Any], score_tick: ScoreTick) -> list[Upsert]:
    if is_tick(record):
        return [*score_tick(record), counted(record)]
    return fact_changes(record)


def memory_scorer(tables: MemoryTables) -> ScoreTick:
    """Score ticks from the fact rows in memory: the tenant's stale days (projections/late.py)
    and the tick's day, each with its scope figures (the reference of tick_store.score_tick)."""

    def score_day(record: Mapping[str, Any], facts: Rows, day: date) -> list[Upsert]:
        tenant = record["tenantid"]
        scores = score_rows(tenant, compute_day(facts, day), record)
        day_scores = {r["learner_id"]: r for r in tables.select(t.DAILY_SCORES, tenant_id=tenant, day=day)}
        day_scores.update((c.row["learner_id"], c.row) for c in scores)
        existing = tables.select(t.SCOPE_FIGURES, tenant_id=tenant, day=day)
        return [*scores, *scope_figure_rows(tenant, day, day_scores.values(), existing, record)]

    def score_tick(record: Mapping[str, Any]) -> list[Upsert]:
        tenant, day = record["tenantid"], tick_day(record)
        facts = {table.name: tables.select(table, tenant_id=tenant) for table in TICK_INPUTS}
        versions = tables.select(t.DAY_VERSIONS, tenant_id=tenant)
        days = [*late.stale_days(versions, day, score_settings(facts).window_days), day]
        changes = [change for scored in days for change in score_day(record, facts, scored)]
        return [*changes, *late.scored(tenant, days, record["sequence"])]

    return score_tick


def position_of(record: object) -> tuple[str, int] | None:
    """(tenant, sequence) of a log record, or None when it has no usable position."""
    if not isinstance(record, dict):
        return None
    tenant, sequence = record.get("tenantid"), record.get("sequence")
    if not isinstance(tenant, str) or isinstance(sequence, bool) or not isinstance(sequence, int):
        return None
    # Both are written to the positions table: only a valid id and a sequence a bigint (and
    # JCS) holds may count as a position, else one record written around the sequencer
    # would fail every batch it is in.
    if not _ID.fullmatch(tenant) or len(tenant) > 128 or not 1 <= sequence <= MAX_SAFE_INTEGER:
        return None
    return tenant, sequence


_ID = re.compile(ID_PATTERN)


_ROLE_TYPES = frozenset(("role.granted", "role.revoked", "user.registered"))


def _roles_in(data: object) -> list[Any]:
    return getattr(data, "roles", None) or [getattr(data, "role", None)]


def fold_record(
    record: Mapping[str, Any],
    score_tick: ScoreTick,
    unseal: Unseal = never_unseal,
    *,
    known_safe: bool = False,
) -> list[Upsert] | Problem:
    """The changes of one record at its turn in the log, or why the fold cannot take it.

    A record the contract does not accept (written around the sequencer, by an older
    version, of an unknown type) or that the pure fold fails on is answered with a
    :class:`Problem`; the decision depends only on the record and the facts, so a replay
    decides the same. Database errors are not caught here: they are not the record's.
    Sealed personal fields are opened with ``unseal`` (``projections/personal.py``); what
    it cannot open reads as erased.
    ``known_safe``: the record's bytes proved what the safety scan checks
    (``schemas.validation.proven_safe``), so it is not scanned again.
    """
    judged = validate_log_record(record, known_safe=known_safe)
    if isinstance(judged, Invalid):
        return judged.problems[0]
    if judged.envelope.type in _ROLE_TYPES and NOT_IN_DIRECTORY in _roles_in(judged.data):
        return Problem("data.role", "role_not_grantable", f"{NOT_IN_DIRECTORY} is never granted or revoked by a tenant")
    if isinstance(judged.data, UserRegistered):  # the fold sees names opened or erased, never sealed
        view = directory_data(record["tenantid"], judged.data, unseal)
        record = {**record, "schemaversion": judged.data.VERSION, "data": view}
    elif judged.envelope.schemaversion != judged.data.VERSION:  # upcast on read
        record = {**record, "schemaversion": judged.data.VERSION, "data": judged.data.model_dump(mode="json")}
    try:
        return changes_for(record, score_tick)
    except (ArithmeticError, LookupError, TypeError, ValueError) as err:
        return Problem("$", "fold_failed", f"{type(err).__name__}: {err}")


def fold_in_memory(
    records: Sequence[Mapping[str, Any]], tables: MemoryTables | None = None, unseal: Unseal = never_unseal
) -> MemoryTables:
    """The reference fold: every record in log order into memory (tests, small replays)."""
    tables = tables or MemoryTables()

    score_tick = memory_scorer(tables)

    applied: dict[str, int] = {}
    for record in records:
        position = order(record, applied)
        if position == "gap":
            raise ValueError(f"records missing before {record['tenantid']} sequence {record['sequence']}")
        if position == "next":
            changes = fold_record(record, score_tick, unseal)
            if not isinstance(changes, Problem):  # the runners quarantine it; memory has no offsets
                tables.apply(changes)
            applied[record["tenantid"]] = record["sequence"]
    return tables
