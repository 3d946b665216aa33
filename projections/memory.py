"""Apply changes to in-memory tables: the reference for tests and pure replays."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from projections.purge import LEARNER_DAY_TABLES, kept_learners
from projections.tables import AUDIT_INDEX, LEGAL_HOLD_RELEASES, LEGAL_HOLDS, RETENTION_CUTS, Table, Upsert


class MemoryTables:
    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}

    def apply(self, changes: Iterable[Upsert]) -> None:
        for change in changes:
            table = self.rows.setdefault(change.table.name, {})
            old = table.get(change.key)
            table[change.key] = merged(change.table, old, change.row)
            if change.table is RETENTION_CUTS:
                self._purge(change.row["tenant_id"], change.row["learner_events_before"])

    def _purge(self, tenant: str, before: date) -> None:
        """A retention receipt's effect, as ``store.apply_changes`` has it in SQL."""
        kept = kept_learners(
            self.select(AUDIT_INDEX),
            self.select(LEGAL_HOLDS),
            self.select(LEGAL_HOLD_RELEASES),
            tenant,
            before,
        )
        for table in LEARNER_DAY_TABLES:
            rows = self.rows.get(table.name, {})
            for key in [
                k
                for k, r in rows.items()
                if r["tenant_id"] == tenant and r["day"] < before and r["learner_id"] not in kept
            ]:
                del rows[key]

    def select(self, table: Table, **equal: Any) -> list[dict[str, Any]]:
        return [row for row in self.rows.get(table.name, {}).values() if all(row[k] == v for k, v in equal.items())]


def merged(table: Table, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The row after ``new`` meets ``old`` under the table's merge rule (mirrors store.py's SQL)."""
    if old is None or table.merge == "replace":
        return dict(new)
    if table.merge == "keep_first":
        return old
    if table.merge == "add_count":
        return {**old, "count": old["count"] + new["count"]}
    if table.merge == "coalesce":  # a partial update: absent (None) values keep the old ones
        return {k: (v if v is not None else old.get(k)) for k, v in new.items()}
    return new if new["day"] < old["day"] else old  # keep_min_day
