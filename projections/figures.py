"""Report figures of a scope: the one place they are defined, counted and rounded.

Over the ``daily_scores`` rows of a scope on one day:

- learners        = rows
- engagement      = median score (the mean of the two middle values for an even count);
                    kept exactly as ``median_x2`` = twice the median, an integer
- weekly_active   = rows with ``active_7d``
- completion_rate = rows with ``completed`` ÷ rows
- at_risk         = rows with ``at_risk``

Scopes: the tenant, each program and each cohort (``scope_figures``, written by the tick in
its transaction: SQL in ``projections/tick_store.py``, the reference here in
:func:`scope_figure_rows`); role scopes (manager, mentor, program owner, learner) count the
same columns live with :data:`FIGURE_COUNTS`.

Rounding, once, at the edge (:func:`rounded`): a figure and its week-over-week change
(value on D − value on D−7) are computed exactly (fractions) and then rounded to 4
decimals, half away from zero. Counts are integers and the engagement is exact (x or x.5) before rounding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from psycopg import sql

from projections import tables as t
from projections.tables import Upsert
from schemas.types import parse_utc

FIGURE_NAMES = ("learners", "engagement", "weekly_active", "completion_rate", "at_risk")
COUNT_NAMES = ("learners", "median_x2", "weekly_active", "completed", "at_risk")
DECIMALS = 4

# The exact counts of a scope, as SQL aggregates over daily_scores rows (alias ``s``).
FIGURE_COUNTS = sql.SQL(
    "count(*) as learners, "
    "(2 * percentile_cont(0.5) within group (order by s.score))::int as median_x2, "
    "count(*) filter (where s.active_7d) as weekly_active, "
    "count(*) filter (where s.completed) as completed, "
    "count(*) filter (where s.at_risk) as at_risk"
)

# The figures of report rows (CSV and JSON rows of a group), rounded by the same rule in SQL:
# numeric division is exact to 20 digits and ``round`` is half up for these non-negative values.
FIGURES = sql.SQL(
    "count(*) as learners, "
    "percentile_cont(0.5) within group (order by s.score) as engagement, "
    "count(*) filter (where s.active_7d) as weekly_active, "
    "round(count(*) filter (where s.completed)::numeric / nullif(count(*), 0), 4) as completion_rate, "
    "count(*) filter (where s.at_risk) as at_risk"
)


def median_x2(scores: Iterable[int]) -> int | None:
    """Twice the median of ``scores`` (None for none): exact in integers."""
    ordered = sorted(scores)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] * 2 if len(ordered) % 2 else ordered[middle - 1] + ordered[middle]


def figure_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int | None]:
    """The exact counts of a scope from its ``daily_scores`` rows (the reference of FIGURE_COUNTS)."""
    rows = list(rows)
    return {
        "learners": len(rows),
        "median_x2": median_x2(r["score"] for r in rows),
        "weekly_active": sum(1 for r in rows if r["active_7d"]),
        "completed": sum(1 for r in rows if r["completed"]),
        "at_risk": sum(1 for r in rows if r["at_risk"]),
    }


def _scopes_of(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("tenant", ""), ("program", row["program_id"] or ""), ("cohort", row["cohort_id"] or "")]


def scope_figure_rows(
    tenant: str,
    day: date,
    day_scores: Iterable[Mapping[str, Any]],
    existing: Iterable[Mapping[str, Any]],
    tick: Mapping[str, Any],
) -> list[Upsert]:
    """``scope_figures`` rows of ``tenant`` on ``day`` from all its ``daily_scores`` rows of the
    day; a scope in ``existing`` that has no rows any more gets ``learners`` 0."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in day_scores:
        for scope in _scopes_of(row):
            groups[scope].append(row)
    for row in existing:
        groups.setdefault((row["scope"], row["scope_id"]), [])
    stamp = {"tick_sequence": tick["sequence"], "computed_at": parse_utc(tick["appendedat"])}
    return [
        Upsert(
            t.SCOPE_FIGURES,
            {"tenant_id": tenant, "day": day, "scope": scope, "scope_id": scope_id, **figure_counts(rows), **stamp},
        )
        for (scope, scope_id), rows in sorted(groups.items())
    ]


def exact_figures(counts: Mapping[str, Any]) -> dict[str, Fraction | int | None]:
    """The figures of a scope from its exact counts (:data:`COUNT_NAMES`), unrounded."""
    learners = counts["learners"]
    return {
        "learners": learners,
        "engagement": None if counts["median_x2"] is None else Fraction(counts["median_x2"], 2),
        "weekly_active": counts["weekly_active"],
        "completion_rate": Fraction(counts["completed"], learners) if learners else None,
        "at_risk": counts["at_risk"],
    }


def rounded(value: Fraction | int | None) -> float | int | None:
    """The edge's one rounding rule: to :data:`DECIMALS` places, half away from zero (half up
    for the non-negative figures, as SQL's ``round``), in exact integers, then a float;
    counts stay integers."""
    if value is None or isinstance(value, int):
        return value
    exact = Fraction(value)
    scale = 10**DECIMALS
    units = (2 * abs(exact.numerator) * scale + exact.denominator) // (2 * exact.denominator)
    return float(Decimal(units if exact >= 0 else -units).scaleb(-DECIMALS))


def change(now: Fraction | int | None, before: Fraction | int | None) -> float | int | None:
    """Week-over-week change, exact then rounded once (None if either side is missing)."""
    if now is None or before is None:
        return None
    return rounded(now - before)


def relative_change(now: Fraction | int | None, before: Fraction | int | None) -> float | int | None:
    """Week-over-week change relative to the week before, (now − before) ÷ before, exact then
    rounded once (None if either side is missing or the week before is 0)."""
    if now is None or not before:
        return None
    return rounded(Fraction(now - before) / before)
