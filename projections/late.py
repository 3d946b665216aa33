"""Late events: which earlier days a tick re-scores, and which events come too late to count.

The rule (issue 14; the README states it beside the score). A tick of tenant T for day D
scores D and re-scores every *stale* day S of T with ``horizon(D, W) ≤ S < D``, where W is
the tenant's window length (the horizon reaches one window back):

- S is stale when it was scored (by the tick at sequence ``scored_sequence``) and some
  learner fact dated F with ``horizon ≤ F ≤ S`` was folded after that tick
  (``fact_sequence > scored_sequence``). A fact dated F can change every day from F on (a
  final phase completes all later days), so it makes every scored day ≥ F stale.
- A fact dated before the horizon makes nothing stale: it is logged and stored as a fact,
  and days scored from then on read it, but no stored score is re-computed for it.
- Days after D stay as they are until a tick of a later day reaches them.

Everything comes from the log (fact and tick sequences, the tick's day, the tenant's window),
so a replay re-scores the same days and writes the same bytes. ``day_versions`` holds the
two sequences per day (projections/tables.py); PostgreSQL evaluates :func:`stale_days` in
``tick_store.STALE_DAYS`` and the in-memory reference calls it directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from projections import tables as t
from projections.tables import Upsert

SHORTEST_WINDOW_DAYS = 7  # the contract's lower bound of a tenant's window_days (schemas/v1.py)


def horizon(tick_day: date, window_days: int) -> date:
    """The earliest day a tick of ``tick_day`` re-scores: one window back."""
    return tick_day - timedelta(days=window_days)


def stale_days(versions: Iterable[Mapping[str, Any]], tick_day: date, window_days: int) -> list[date]:
    """The days a tick of ``tick_day`` re-scores, ascending, from a tenant's ``day_versions``
    rows (``day``, ``fact_sequence`` and ``scored_sequence``, either may be None)."""
    first, versions = horizon(tick_day, window_days), list(versions)
    facts = sorted((v["day"], v["fact_sequence"]) for v in versions if v["fact_sequence"] is not None)
    stale = []
    for v in versions:
        scored, day = v["scored_sequence"], v["day"]
        if scored is None or not first <= day < tick_day:
            continue
        if any(first <= fact <= day and sequence > scored for fact, sequence in facts):
            stale.append(day)
    return sorted(stale)


def counts_in_stored_scores(event_day: date, today: date, window_days: int) -> bool:
    """Whether an event dated ``event_day`` arriving on ``today`` can still change stored scores.

    The next nightly tick is for yesterday, so the horizon of a tick of yesterday or a later
    day is at the earliest ``horizon(today − 1, W)``; an event dated before it makes no day
    stale (a manual tick of an older day has an older horizon and may still re-score it)."""
    return event_day >= horizon(today - timedelta(days=1), window_days)


def scored(tenant: str, days: Iterable[date], tick_sequence: int) -> list[Upsert]:
    """``day_versions``: each of ``days`` was scored by the tick at ``tick_sequence``."""
    return [
        Upsert(t.DAY_VERSIONS, {"tenant_id": tenant, "day": d, "fact_sequence": None, "scored_sequence": tick_sequence})
        for d in days
    ]
