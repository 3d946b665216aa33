"""Report figures of a scope: the one place they are computed, as SQL aggregates over
``daily_scores`` rows (alias ``s``) of one day.

- engagement      = median score (``percentile_cont(0.5)``: the mean of the two middle
                    values for an even count)
- weekly_active   = rows with ``active_7d``
- completion_rate = rows with ``completed`` ÷ rows
- at_risk         = rows with ``at_risk``
- learners        = rows

Tiles compare day D with D−7 (week-over-week change); the series is the engagement of
D, D−7, … beside the tenant's target.
"""

from __future__ import annotations

from psycopg import sql

FIGURE_NAMES = ("learners", "engagement", "weekly_active", "completion_rate", "at_risk")

FIGURES = sql.SQL(
    "count(*) as learners, "
    "percentile_cont(0.5) within group (order by s.score) as engagement, "
    "count(*) filter (where s.active_7d) as weekly_active, "
    "round(count(*) filter (where s.completed)::numeric / nullif(count(*), 0), 4) as completion_rate, "
    "count(*) filter (where s.at_risk) as at_risk"
)
