"""Retention rules, pure: a tenant's policy, its cutoffs, when its purge is due, and which
archived records a purge turns into stubs. No Kafka, SQL or S3 here (``jobs.retention``
carries the plan out).

The rule (issue 12, README "Retention"): on day D, a record of kind *learner* or *system*
whose ``time`` falls before D − ``learner_events_days``, or of kind *mutation* before
D − ``mutations_days``, expires — unless the legal-hold predicate covers it (then it is
counted in ``skipped_on_hold``), it is already a stub, or it is a record of the lifecycle
itself (``retention.policy_set``, ``retention.purged``: the audit of what was purged must
outlive the purge). Records of a type the registry does not know never expire (their kind
is unknown). Times are UTC dates; cutoffs are exclusive (a record dated on the cutoff stays).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from events.archive_format import to_record
from schemas.registry import MODELS
from schemas.v1 import MAX_PURGE_RANGES, RETENTION_DEFAULTS

KEPT_TYPES = frozenset({"retention.policy_set", "retention.purged"})
_KINDS = {t: m.KIND for (t, _), m in MODELS.items()}


class HeldPredicate(Protocol):
    """Is this log record under a legal hold? The ONE question retention asks about holds.

    Called with a full log record (envelope and ``data``, as ``events.archive_format.to_record``
    gives it). The implementation lives with the legal holds (``jobs.retention.held_predicate``
    builds it per tenant); retention never decides holds itself."""

    def __call__(self, record: Mapping[str, Any]) -> bool: ...


def nothing_held(record: Mapping[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class Cutoffs:
    """Exclusive UTC dates: what is dated before them expires."""

    learner_events: date
    mutations: date
    exports: date


@dataclass(frozen=True)
class Policy:
    learner_events_days: int
    mutations_days: int
    exports_days: int
    cadence: str
    hour: int

    @classmethod
    def of(cls, row: Mapping[str, Any] | None) -> Policy:
        """The tenant's policy row, or the defaults (``schemas.v1.RETENTION_DEFAULTS``)."""
        return cls(**{name: (row or RETENTION_DEFAULTS)[name] for name in RETENTION_DEFAULTS})

    def cutoffs(self, today: date) -> Cutoffs:
        return Cutoffs(
            today - timedelta(days=self.learner_events_days),
            today - timedelta(days=self.mutations_days),
            today - timedelta(days=self.exports_days),
        )

    def due(self, now: datetime) -> bool:
        """Is ``now`` (UTC) the hour of a purge? daily; weekly on Mondays; monthly on the 1st."""
        if now.hour != self.hour:
            return False
        return self.cadence == "daily" or (
            now.weekday() == 0 if self.cadence == "weekly" else self.cadence == "monthly" and now.day == 1
        )


def cutoff_of(event_type: str | None, cutoffs: Cutoffs) -> date | None:
    """The cutoff of a record type; ``None``: never expires."""
    if event_type in KEPT_TYPES:
        return None
    kind = _KINDS.get(event_type or "")
    if kind == "mutation":
        return cutoffs.mutations
    return cutoffs.learner_events if kind in ("learner", "system") else None


@dataclass
class PurgePlan:
    """What one purge turns into stubs: archive rows by sequence, counts, the held ones."""

    purged: list[Mapping[str, Any]] = field(default_factory=list)
    held: list[Mapping[str, Any]] = field(default_factory=list)
    learner_events: int = 0
    mutations: int = 0

    @property
    def sequences(self) -> list[int]:
        return sorted(r["sequence"] for r in self.purged)

    def held_learners(self) -> set[str]:
        """Learners a held expired record names: their read-model rows stay too."""
        found = set()
        for row in self.held:
            data = (to_record(row) or {}).get("data")
            if isinstance(data, dict) and isinstance(data.get("learner_id"), str):
                found.add(data["learner_id"])
        return found


def plan_purge(rows: Iterable[Mapping[str, Any]], cutoffs: Cutoffs, held: HeldPredicate = nothing_held) -> PurgePlan:
    """Which archive rows of one tenant expire (see the module docstring)."""
    plan = PurgePlan()
    for row in rows:
        if row["stub"] or row["raw"] is not None or row["sequence"] is None or row["time"] is None:
            continue
        cutoff = cutoff_of(row["type"], cutoffs)
        if cutoff is None or row["time"].date() >= cutoff:
            continue
        record = to_record(row)
        if record is not None and held(record):
            plan.held.append(row)
            continue
        plan.purged.append(row)
        if _KINDS.get(row["type"]) == "mutation":
            plan.mutations += 1
        else:
            plan.learner_events += 1
    return plan


def ranges(sequences: Sequence[int]) -> list[list[int]]:
    """Sorted sequences as inclusive runs: [1, 2, 3, 7] → [[1, 3], [7, 7]]."""
    runs: list[list[int]] = []
    for s in sorted(sequences):
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return runs


def receipt_chunks(runs: list[list[int]]) -> list[list[list[int]]]:
    """Runs split so each receipt holds at most ``MAX_PURGE_RANGES`` (the contract's bound)."""
    return [runs[i : i + MAX_PURGE_RANGES] for i in range(0, len(runs), MAX_PURGE_RANGES)] or [[]]
