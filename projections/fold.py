"""The one dispatch from a log record to read-model changes, shared by every runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from projections.facts import counted, fact_changes
from projections.memory import MemoryTables
from projections.scores import TICK_INPUTS, compute_day, score_rows, tick_day
from projections.tables import Upsert

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
    """Facts for an event; for a tick, the day's scores from the facts as they stand now."""
    if is_tick(record):
        day = tick_day(record)
        scores = compute_day(load_rows(record["tenantid"], day), day)
        return [*score_rows(record["tenantid"], scores, record), counted(record)]
    return fact_changes(record)


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
            tables.apply(changes_for(record, load))
            applied[record["tenantid"]] = record["sequence"]
    return tables
