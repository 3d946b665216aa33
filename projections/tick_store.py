"""The recompute tick, set-based in PostgreSQL: count, judge each distinct count once, join.

For 100k learners, shipping every learner's window of facts to Python and back was the
tick's cost (10 s). Here PostgreSQL counts the window per learner into a temp table
(:class:`~projections.engagement.WindowCounts`, the same counts ``window_counts`` takes
from facts in memory), Python judges only the distinct count tuples (a few thousand at
most, by the one rule in ``engagement.judge``), and one ``insert … select`` joins them
back into ``daily_scores`` under the table's merge rule. No learner row leaves the server
unless its scores are to be published. A tick first re-scores its tenant's stale days
(late events, ``projections/late.py``), each exactly as a tick of that day, in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from projections import tables as t
from projections.database import scalar
from projections.engagement import COMPONENTS, ScoreSettings, WindowCounts, judge
from projections.figures import FIGURE_COUNTS
from projections.late import horizon
from projections.scores import TICK_INPUTS, decimal6, score_settings
from projections.store import insert_sql, upsert_sql
from schemas.types import parse_utc

COUNT_COLUMNS = WindowCounts._fields
# Learners from which a tick analyzes its counts before joining (below, any plan is quick and
# the analyze itself is most of the cost: ~2 ms a tick, 224 ticks in a 0.1× replay).
ANALYZE_FROM = 5000
TICK_WORK_MEM = "64MB"  # for the rest of the writer's transaction (set local)

# Every table a tick reads (facts, settings, day versions, the day's scores for the figures):
# a writer must have written its pending changes to these, and only these, before a tick.
READS: frozenset[str] = frozenset(
    table.name for table in (*TICK_INPUTS, t.DAY_VERSIONS, t.DAILY_SCORES, t.SCOPE_FIGURES)
)
_COUNT_TYPES = ("int", "int", "int", "boolean", "boolean", "int", "int", "int", "int")

# Per learner of the tenant: the counts of the window [first, day] (one row per enrolment).
_COUNTS = """
with e as (
  select e.learner_id, case when p.program_id is not null then e.cohort_id end as cohort_id,
         p.program_id, coalesce(p.pace_days, 0) as pace_days
  from {s}.enrolments e
  left join {s}.cohorts c on c.tenant_id = e.tenant_id and c.cohort_id = e.cohort_id
  left join {s}.programs p on p.tenant_id = c.tenant_id and p.program_id = c.program_id
  where e.tenant_id = %(t)s),
si as (select learner_id, count(*) as n from {s}.signin_days
       where tenant_id = %(t)s and day between %(first)s and %(day)s group by 1),
ses as (select session_id, cohort_id from {s}.sessions
        where tenant_id = %(t)s and starts_on between %(first)s and %(day)s),
sc as (select cohort_id, count(*) as n from ses group by 1),
att as (select a.learner_id, ses.cohort_id, count(*) as n from {s}.attendance a join ses using (session_id)
        where a.tenant_id = %(t)s group by 1, 2),
adv as (select learner_id, program_id, count(*) filter (where day >= %(first)s) as n, bool_or(final) as final
        from {s}.phase_advances where tenant_id = %(t)s and day <= %(day)s and (final or day >= %(first)s)
        group by 1, 2),
asg as (select assignment_id, cohort_id from {s}.assignments
        where tenant_id = %(t)s and due_on between %(first)s and %(day)s),
ac as (select cohort_id, count(*) as n from asg group by 1),
sub as (select x.learner_id, asg.cohort_id, count(*) as n from {s}.submissions x join asg using (assignment_id)
        where x.tenant_id = %(t)s and x.day <= %(day)s group by 1, 2),
act as (select distinct learner_id from {s}.activity_days
        where tenant_id = %(t)s and day between %(active_first)s and %(day)s)
insert into tick_counts
select e.learner_id, e.cohort_id, e.program_id, act.learner_id is not null,
       coalesce(si.n, 0), coalesce(sc.n, 0), coalesce(att.n, 0), e.program_id is not null,
       coalesce(adv.final, false), coalesce(adv.n, 0), e.pace_days, coalesce(ac.n, 0), coalesce(sub.n, 0)
from e
left join si on si.learner_id = e.learner_id
left join sc on sc.cohort_id = e.cohort_id
left join att on att.learner_id = e.learner_id and att.cohort_id = e.cohort_id
left join adv on adv.learner_id = e.learner_id and adv.program_id = e.program_id
left join ac on ac.cohort_id = e.cohort_id
left join sub on sub.learner_id = e.learner_id and sub.cohort_id = e.cohort_id
left join act on act.learner_id = e.learner_id
"""


# Each daily_scores column from the tick's parameters, counts (k) and judgement (j).
_SCORE_SOURCE = {
    "tenant_id": "%(t)s",
    "learner_id": "k.learner_id",
    "day": "%(day)s",
    "cohort_id": "k.cohort_id",
    "program_id": "k.program_id",
    "score": "j.score",
    **{c: f"j.{c}" for c in COMPONENTS},
    "at_risk": "j.at_risk",
    "active_7d": "k.active_7d",
    "completed": "k.final",
    "tick_sequence": "%(sequence)s",
    "computed_at": "%(computed_at)s",
}


def _temp_tables(cur: psycopg.Cursor) -> None:
    """Create (once per session) and empty the tick's two temp tables, and give the rest of
    the transaction the tick's ``work_mem``, in one round trip."""
    counts = ", ".join(f"{name} {kind} not null" for name, kind in zip(COUNT_COLUMNS, _COUNT_TYPES, strict=True))
    cur.execute(
        "create temp table if not exists tick_counts (learner_id text not null, cohort_id text, "
        f"program_id text, active_7d boolean not null, {counts}) on commit delete rows; "
        f"create temp table if not exists tick_judged ({counts}, score smallint not null, "
        + ", ".join(f"{c} numeric(7,6)" for c in COMPONENTS)
        + ", at_risk boolean not null) on commit delete rows; "
        "truncate tick_counts, tick_judged; "
        # The counts' sorts and hashes of 100k learners spill to disk at the default 4 MB.
        f"set local work_mem = '{TICK_WORK_MEM}'"
    )


def tenant_score_settings(cur: psycopg.Cursor, schema: str, tenant: str) -> ScoreSettings:
    """The tenant's score settings as the tick sees them (defaults where unset)."""
    with cur.connection.cursor(row_factory=dict_row) as dict_cur:
        rows = dict_cur.execute(
            sql.SQL("select * from {} where tenant_id = %s").format(sql.Identifier(schema, t.TENANT_SETTINGS.name)),
            [tenant],
        ).fetchall()
    return score_settings({t.TENANT_SETTINGS.name: rows})


class Judgements:
    """Judged rows of ``tick_judged`` by (settings, counts), kept across a writer's ticks: a
    replay's ticks meet the same few thousand counts tuples again and again."""

    def __init__(self, limit: int = 200_000) -> None:
        self.rows: dict[tuple[Any, ...], dict[tuple[Any, ...], tuple[Any, ...]]] = {}
        self.limit = limit
        self.size = 0

    def rows_of(self, settings: ScoreSettings) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """The judged rows of one settings, by counts tuple (the settings hashed once)."""
        key = (settings.window_days, settings.at_risk_below, tuple(sorted(settings.weights.items())))
        return self.rows.setdefault(key, {})

    def row(self, counts: WindowCounts, settings: ScoreSettings) -> tuple[Any, ...]:
        """``(*counts, score, *components as numeric(7,6), at_risk)`` by ``engagement.judge``."""
        return self.judged(self.rows_of(settings), tuple(counts), settings)

    def judged(
        self, rows: dict[tuple[Any, ...], tuple[Any, ...]], counts: tuple[Any, ...], settings: ScoreSettings
    ) -> tuple[Any, ...]:
        row = rows.get(counts)
        if row is None:
            if self.size >= self.limit:
                for kept in self.rows.values():  # bounded memory; a miss only costs a recomputation
                    kept.clear()
                self.size = 0
            judged = judge(WindowCounts(*counts), settings)
            parts = (decimal6(judged.components[c]) for c in COMPONENTS)
            row = rows[counts] = (*counts, judged.score, *parts, judged.at_risk)
            self.size += 1
        return row


def _judge_distinct(cur: psycopg.Cursor, settings: ScoreSettings, judgements: Judgements) -> None:
    """Judge each distinct counts tuple of the tick once, into ``tick_judged``."""
    keys = cur.execute(f"select distinct {', '.join(COUNT_COLUMNS)} from tick_counts").fetchall()
    rows = judgements.rows_of(settings)
    with cur.copy("copy tick_judged from stdin") as copy:
        for key in keys:
            copy.write_row(judgements.judged(rows, key, settings))


# projections/late.py:stale_days in SQL: the tenant's scored days in [horizon, day) with a fact
# dated in [horizon, that day] folded after the day was last scored.
_STALE_DAYS = """
select s.day from {s}.day_versions s
where s.tenant_id = %(t)s and s.scored_sequence is not null and s.day >= %(horizon)s and s.day < %(day)s
  and exists (select 1 from {s}.day_versions f
              where f.tenant_id = s.tenant_id and f.day between %(horizon)s and s.day
                and f.fact_sequence > s.scored_sequence)
order by s.day
"""


def stale_days(cur: psycopg.Cursor, schema: str, tenant: str, day: date, window_days: int) -> list[date]:
    """The days a tick of ``day`` re-scores besides ``day`` (the rule: ``late.stale_days``)."""
    params = {"t": tenant, "day": day, "horizon": horizon(day, window_days)}
    return [row[0] for row in cur.execute(sql.SQL(_STALE_DAYS).format(s=sql.Identifier(schema)), params)]


def score_tick(
    cur: psycopg.Cursor,
    schema: str,
    tenant: str,
    day: date,
    tick: Mapping[str, Any],
    *,
    judgements: Judgements,
    returning: bool,
) -> tuple[list[date], list[dict[str, Any]]]:
    """Process a tick of ``day``: re-score the tenant's stale days (ascending), then ``day``.
    Returns the days scored and, when ``returning``, the written rows (by day, then learner)."""
    settings = tenant_score_settings(cur, schema, tenant)
    days = [*stale_days(cur, schema, tenant, day, settings.window_days), day]
    rows: list[dict[str, Any]] = []
    for scored in days:
        rows += score_day(
            cur, schema, tenant, scored, tick, judgements=judgements, returning=returning, settings=settings
        )
    return days, rows


def score_day(
    cur: psycopg.Cursor,
    schema: str,
    tenant: str,
    day: date,
    tick: Mapping[str, Any],
    *,
    judgements: Judgements,
    returning: bool,
    settings: ScoreSettings | None = None,
) -> list[dict[str, Any]]:
    """Score every enrolled learner of ``tenant`` on ``day`` into ``daily_scores`` (upsert,
    the table's merge rule); the tick's sequence and append time stamp the rows. Returns the
    written rows, ordered by learner, when ``returning`` (to publish them), else []."""
    settings = settings or tenant_score_settings(cur, schema, tenant)
    _temp_tables(cur)
    params = {
        "t": tenant,
        "day": day,
        "first": day - timedelta(days=settings.window_days - 1),
        "active_first": day - timedelta(days=6),
    }
    cur.execute(sql.SQL(_COUNTS).format(s=sql.Identifier(schema)), params)
    if cur.rowcount >= ANALYZE_FROM:  # else the planner guesses 1 row and sorts both sides to join
        cur.execute("analyze tick_counts")
    _judge_distinct(cur, settings, judgements)
    source = sql.SQL(
        f"select {', '.join(_SCORE_SOURCE[c] for c in t.DAILY_SCORES.columns)} "
        f"from tick_counts k join tick_judged j using ({', '.join(COUNT_COLUMNS)}) "
        "order by k.learner_id"  # the key's order: appends to the key's index
    )
    # A day the tenant has no scores for yet (every first tick of a day) takes a plain insert:
    # the same rows, without a conflict check per row (the writer's lock keeps it so).
    scored = scalar(cur, sql.SQL(_SCORED).format(sql.Identifier(schema, t.DAILY_SCORES.name)), params)
    query = (upsert_sql if scored else insert_sql)(schema, t.DAILY_SCORES, source)
    params |= {"sequence": tick["sequence"], "computed_at": parse_utc(tick["appendedat"])}
    rows: list[dict[str, Any]] = []
    if returning:
        with cur.connection.cursor(row_factory=dict_row) as dict_cur:
            rows = dict_cur.execute(query + sql.SQL(" returning *"), params).fetchall()
    else:
        cur.execute(query, params)
    write_scope_figures(cur, schema, params)
    return sorted(rows, key=lambda row: row["learner_id"])


_SCORED = "select exists (select 1 from {} where tenant_id = %(t)s and day = %(day)s)"


def write_scope_figures(cur: psycopg.Cursor, schema: str, params: Mapping[str, Any]) -> None:
    """Rewrite the day's ``scope_figures`` of the tenant from all its ``daily_scores`` rows of
    the day (the rule and its reference: ``figures.scope_figure_rows``)."""
    s = sql.Identifier(schema)
    source = sql.SQL(
        "select %(t)s, %(day)s, g.scope, g.scope_id, {counts}, %(sequence)s, %(computed_at)s "
        "from {s}.daily_scores s cross join lateral (values ('tenant', ''), "
        "('program', coalesce(s.program_id, '')), ('cohort', coalesce(s.cohort_id, ''))) g(scope, scope_id) "
        "where s.tenant_id = %(t)s and s.day = %(day)s group by g.scope, g.scope_id"
    ).format(counts=FIGURE_COUNTS, s=s)
    cur.execute(upsert_sql(schema, t.SCOPE_FIGURES, source), params)
    cur.execute(
        sql.SQL(
            "update {s}.scope_figures set learners = 0, median_x2 = null, weekly_active = 0, completed = 0, "
            "at_risk = 0, tick_sequence = %(sequence)s, computed_at = %(computed_at)s "
            "where tenant_id = %(t)s and day = %(day)s and tick_sequence <> %(sequence)s"
        ).format(s=s),
        params,
    )
