"""The one dispatch from a log record to read-model changes, shared by every runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from projections.audit import audit_changes
from projections.facts import counted, fact_changes
from projections.memory import MemoryTables
from projections.scores import TICK_INPUTS, compute_day, score_rows, tick_day
from projections.tables import Upsert
from schemas.validation import Invalid, Problem, validate_log_record

TICK = "engagement.recompute_requested"
LoadRows = Callable[[str, date], Mapping[str, Sequence[Mapping[str, Any]]]]


def order(record: Mapping[str, Any], applied: Mapping[str, int]) -> str:
    """Where a record stands against its tenant's applied sequence: ``"next"`` (apply it),
    ``"seen"`` (a redelivery: skip it) or ``"gap"`` (records are missing before it)."""
    expected = applied.get(record["tenantid"], 0) + 1
    if record["sequence"] < expected:
        return "seen"
    return "next" if record["sequence"] == expected else "gap"


def is_tick(record: Mapping[str, Any]) -> bool:
    return record["type"] == TICK


def changes_for(record: Mapping[str, Any], load_rows: LoadRows) -> list[Upsert]:
    """Facts for an event; for a tick, the day's scores from the facts as they stand now;
    and for every record its place in the audit trail."""
    return [*_facts_or_scores(record, load_rows), *audit_changes(record)]


def _facts_or_scores(record: Mapping[str, Any], load_rows: LoadRows) -> list[Upsert]:
    if is_tick(record):
        day = tick_day(record)
        scores = compute_day(load_rows(record["tenantid"], day), day)
        return [*score_rows(record["tenantid"], scores, record), counted(record)]
    return fact_changes(record)


def position_of(record: object) -> tuple[str, int] | None:
    """(tenant, sequence) of a log record, or None when it has no usable position."""
    if not isinstance(record, dict):
        return None
    tenant, sequence = record.get("tenantid"), record.get("sequence")
    if not isinstance(tenant, str) or isinstance(sequence, bool) or not isinstance(sequence, int):
        return None
    return tenant, sequence


def fold_record(record: Mapping[str, Any], load_rows: LoadRows) -> list[Upsert] | Problem:
    """The changes of one record at its turn in the log, or why the fold cannot take it.

    A record the contract does not accept (written around the sequencer, by an older
    version, of an unknown type) or that the pure fold fails on is answered with a
    :class:`Problem`; the decision depends only on the record and the facts, so a replay
    decides the same. Database errors are not caught here: they are not the record's.
    """
    judged = validate_log_record(record)
    if isinstance(judged, Invalid):
        return judged.problems[0]
    if judged.envelope.schemaversion != judged.data.VERSION:  # upcast on read
        record = {**record, "schemaversion": judged.data.VERSION, "data": judged.data.model_dump(mode="json")}
    try:
        return changes_for(record, load_rows)
    except (ArithmeticError, LookupError, TypeError, ValueError) as err:
        return Problem("$", "fold_failed", f"{type(err).__name__}: {err}")


def fold_in_memory(records: Sequence[Mapping[str, Any]], tables: MemoryTables | None = None) -> MemoryTables:
    """The reference fold: every record in log order into memory (tests, small replays)."""
    tables = tables or MemoryTables()

    def load(tenant: str, _day: date) -> dict[str, list[dict[str, Any]]]:
        return {table.name: tables.select(table, tenant_id=tenant) for table in TICK_INPUTS}

    applied: dict[str, int] = {}
    for record in records:
        position = order(record, applied)
        if position == "gap":
            raise ValueError(f"records missing before {record['tenantid']} sequence {record['sequence']}")
        if position == "next":
            changes = fold_record(record, load)
            if not isinstance(changes, Problem):  # the runners quarantine it; memory has no offsets
                tables.apply(changes)
            applied[record["tenantid"]] = record["sequence"]
    return tables
