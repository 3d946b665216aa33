"""The recompute tick as a fold: ``(tick, the tenant's facts) -> daily score rows``.

The facts are rows of the read-model tables as they stand when the tick is
processed — i.e. exactly the events appended before the tick. Loading them is the
runner's job (SQL or memory); everything from rows to scores is pure and lives
here and in ``engagement.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from projections import tables as t
from projections.engagement import (
    COMPONENTS,
    CohortFacts,
    DailyScore,
    Enrolment,
    LearnerFacts,
    ScoreSettings,
    daily_score,
)
from projections.tables import Table, Upsert
from schemas.types import parse_day, parse_utc

Rows = Mapping[str, Sequence[Mapping[str, Any]]]  # table name -> rows of one tenant

# The tables a tick reads, each with the date column that bounds what it needs.
TICK_INPUTS: tuple[Table, ...] = (
    t.TENANT_SETTINGS,
    t.PROGRAMS,
    t.COHORTS,
    t.ENROLMENTS,
    t.SIGNIN_DAYS,
    t.ACTIVITY_DAYS,
    t.SESSIONS,
    t.ATTENDANCE,
    t.PHASE_ADVANCES,
    t.ASSIGNMENTS,
    t.SUBMISSIONS,
)


def score_settings(rows: Rows) -> ScoreSettings:
    defaults = ScoreSettings()
    if not rows.get("tenant_settings"):
        return defaults
    row = rows["tenant_settings"][0]
    weights = {
        name: Fraction(row[f"weight_{name}"]) if row.get(f"weight_{name}") is not None else defaults.weights[name] * 100
        for name in COMPONENTS
    }
    return ScoreSettings(
        window_days=row.get("window_days") or defaults.window_days,
        weights=weights,
        at_risk_below=row["at_risk_below"] if row.get("at_risk_below") is not None else defaults.at_risk_below,
        target=row["target"] if row.get("target") is not None else defaults.target,
    )


@dataclass(frozen=True)
class TenantFacts:
    learners: list[LearnerFacts]
    cohorts: dict[str, CohortFacts]


def tenant_facts(rows: Rows) -> TenantFacts:
    """Index a tenant's rows by learner and cohort; only enrolled learners are scored."""
    programs = {r["program_id"]: r for r in rows.get("programs", ())}
    cohorts = {r["cohort_id"]: r for r in rows.get("cohorts", ())}
    by_learner: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"signin": set(), "activity": set(), "attended": set(), "advances": [], "submitted": {}}
    )
    for r in rows.get("signin_days", ()):
        by_learner[r["learner_id"]]["signin"].add(r["day"])
    for r in rows.get("activity_days", ()):
        by_learner[r["learner_id"]]["activity"].add(r["day"])
    for r in rows.get("attendance", ()):
        by_learner[r["learner_id"]]["attended"].add(r["session_id"])
    for r in rows.get("phase_advances", ()):
        by_learner[r["learner_id"]]["advances"].append((r["program_id"], r["day"], r["final"]))
    for r in rows.get("submissions", ()):
        by_learner[r["learner_id"]]["submitted"][r["assignment_id"]] = r["day"]

    cohort_facts: dict[str, dict[str, dict[str, date]]] = defaultdict(lambda: {"sessions": {}, "assignments": {}})
    for r in rows.get("sessions", ()):
        cohort_facts[r["cohort_id"]]["sessions"][r["session_id"]] = r["starts_on"]
    for r in rows.get("assignments", ()):
        cohort_facts[r["cohort_id"]]["assignments"][r["assignment_id"]] = r["due_on"]

    learners = []
    for enrolment in sorted(rows.get("enrolments", ()), key=lambda r: r["learner_id"]):
        cohort = cohorts.get(enrolment["cohort_id"])
        program = programs.get(cohort["program_id"]) if cohort else None
        facts = by_learner[enrolment["learner_id"]]
        learners.append(
            LearnerFacts(
                learner_id=enrolment["learner_id"],
                # Enrolled in a cohort the directory does not know (yet): scored as not enrolled.
                enrolment=Enrolment(enrolment["cohort_id"], program["program_id"], program["pace_days"])
                if program
                else None,
                signin_days=frozenset(facts["signin"]),
                activity_days=frozenset(facts["activity"]),
                attended_sessions=frozenset(facts["attended"]),
                advances=tuple(sorted(facts["advances"])),
                submitted=dict(facts["submitted"]),
            )
        )
    return TenantFacts(learners, {c: CohortFacts(f["sessions"], f["assignments"]) for c, f in cohort_facts.items()})


def compute_day(rows: Rows, day: date) -> list[DailyScore]:
    settings = score_settings(rows)
    facts = tenant_facts(rows)
    empty = CohortFacts()
    return [
        daily_score(
            learner,
            facts.cohorts.get(learner.enrolment.cohort_id, empty) if learner.enrolment else empty,
            day,
            settings,
        )
        for learner in facts.learners
    ]


def decimal6(value: Fraction | None) -> Decimal | None:
    """A component as stored (``numeric(7,6)``): 6 decimals, rounded half up, exactly."""
    if value is None:
        return None
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def score_rows(tenant: str, scores: Iterable[DailyScore], tick: Mapping[str, Any]) -> list[Upsert]:
    """One ``daily_scores`` row per learner; ``computed_at`` is the tick's append time (from the
    log, so replays reproduce it)."""
    computed_at = parse_utc(tick["appendedat"])
    return [
        Upsert(
            t.DAILY_SCORES,
            {
                "tenant_id": tenant,
                "learner_id": s.learner_id,
                "day": s.day,
                "cohort_id": s.cohort_id,
                "program_id": s.program_id,
                "score": s.score,
                **{name: decimal6(s.components[name]) for name in COMPONENTS},
                "at_risk": s.at_risk,
                "active_7d": s.active_7d,
                "completed": s.completed,
                "tick_sequence": tick["sequence"],
                "computed_at": computed_at,
            },
        )
        for s in scores
    ]


def tick_day(record: Mapping[str, Any]) -> date:
    return parse_day(record["data"]["day"])
