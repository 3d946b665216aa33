"""The engagement score: every rule, in exact rational arithmetic, in this one module.

For learner L on day D with window W (UTC dates D−W+1 … D):

- ``signin``      = min(1, distinct window dates with a sign-in of L ÷ 12). Always present.
- ``attendance``  = cohort sessions starting in the window that L attended ÷ cohort sessions
                    starting in the window. Absent when there are none.
- ``progress``    = 1 if L has a final ``phase.advanced`` for their program dated ≤ D, else
                    min(1, L's advances for the program dated in the window ÷ (W ÷ pace_days)).
                    Absent when L is not enrolled.
- ``submissions`` = cohort assignments due in the window that L submitted (dated ≤ D) ÷
                    cohort assignments due in the window. Absent when there are none.
- ``score``       = round_half_up(100 × Σ wᵢ·cᵢ ÷ Σ wᵢ) over the present components.
- ``at_risk``     = score < threshold; ``active_7d`` = any learner event about L dated D−6 … D;
  ``completed``   = a final phase for L's program dated ≤ D.

Scope figures are aggregates of these rows: see ``projections/figures.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from math import floor, lcm

COMPONENTS = ("signin", "attendance", "progress", "submissions")
SIGNIN_TARGET_DAYS = 12


@dataclass(frozen=True)
class ScoreSettings:
    """Per-tenant settings of the score (defaults from the product's rules)."""

    window_days: int = 28
    weights: Mapping[str, Fraction] = field(
        default_factory=lambda: {
            "signin": Fraction(20, 100),
            "attendance": Fraction(35, 100),
            "progress": Fraction(25, 100),
            "submissions": Fraction(20, 100),
        }
    )
    at_risk_below: int = 40
    target: int = 75


@dataclass(frozen=True)
class Enrolment:
    cohort_id: str
    program_id: str
    pace_days: int


@dataclass(frozen=True)
class LearnerFacts:
    """What is known of one learner when the tick is processed (a superset is fine)."""

    learner_id: str
    enrolment: Enrolment | None
    signin_days: frozenset[date] = frozenset()
    activity_days: frozenset[date] = frozenset()
    attended_sessions: frozenset[str] = frozenset()
    advances: tuple[tuple[str, date, bool], ...] = ()  # (program_id, day, final)
    submitted: Mapping[str, date] = field(default_factory=dict)  # assignment -> first day


@dataclass(frozen=True)
class CohortFacts:
    sessions: Mapping[str, date] = field(default_factory=dict)  # session -> starts_on
    assignments: Mapping[str, date] = field(default_factory=dict)  # assignment -> due_on


@dataclass(frozen=True)
class DailyScore:
    learner_id: str
    day: date
    cohort_id: str | None
    program_id: str | None
    score: int
    components: Mapping[str, Fraction | None]
    at_risk: bool
    active_7d: bool
    completed: bool


def window(day: date, days: int) -> tuple[date, date]:
    return day - timedelta(days=days - 1), day


def round_half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


def components(
    learner: LearnerFacts, cohort: CohortFacts, day: date, settings: ScoreSettings
) -> dict[str, Fraction | None]:
    first, last = window(day, settings.window_days)

    def in_window(d: date) -> bool:
        return first <= d <= last

    signin_days = sum(1 for d in learner.signin_days if in_window(d))
    signin = Fraction(min(signin_days, SIGNIN_TARGET_DAYS), SIGNIN_TARGET_DAYS)
    sessions = {s for s, d in cohort.sessions.items() if in_window(d)}
    attendance = Fraction(len(sessions & learner.attended_sessions), len(sessions)) if sessions else None
    progress = None
    if learner.enrolment is not None:
        program = learner.enrolment.program_id
        mine = [(d, final) for p, d, final in learner.advances if p == program]
        if any(final and d <= day for d, final in mine):
            progress = Fraction(1)
        else:
            # advances ÷ (W ÷ pace) = advances × pace ÷ W, capped at 1
            advanced = sum(1 for d, _ in mine if in_window(d)) * learner.enrolment.pace_days
            progress = Fraction(min(advanced, settings.window_days), settings.window_days)
    due = [a for a, d in cohort.assignments.items() if in_window(d)]
    submitted = sum(1 for a in due if a in learner.submitted and learner.submitted[a] <= day)
    submissions = Fraction(submitted, len(due)) if due else None
    return {"signin": signin, "attendance": attendance, "progress": progress, "submissions": submissions}


def score(parts: Mapping[str, Fraction | None], weights: Mapping[str, Fraction]) -> int:
    """round_half_up(100 × Σ wᵢ·cᵢ ÷ Σ wᵢ) over present components, each clipped to [0, 1].

    Exact, in integers over a common denominator (Fraction sums were the recompute's
    hot spot); a property test checks it against the plain Fraction formula."""
    terms = []
    for name, value in parts.items():
        if value is None:
            continue
        weight = Fraction(weights[name])
        clipped = min(max(value.numerator, 0), value.denominator)
        terms.append((weight.numerator, weight.denominator, clipped, value.denominator))
    if not terms:
        return 0
    common = lcm(*(wd * d for _, wd, _, d in terms))
    weighted = sum(wn * n * (common // (wd * d)) for wn, wd, n, d in terms)
    total = sum(wn * (common // wd) for wn, wd, _, _ in terms)
    if total == 0:
        return 0
    return (200 * weighted + total) // (2 * total)


def daily_score(learner: LearnerFacts, cohort: CohortFacts, day: date, settings: ScoreSettings) -> DailyScore:
    parts = components(learner, cohort, day, settings)
    value = score(parts, settings.weights)
    program = learner.enrolment.program_id if learner.enrolment else None
    completed = any(p == program and final and d <= day for p, d, final in learner.advances)
    active_first = day - timedelta(days=6)
    return DailyScore(
        learner_id=learner.learner_id,
        day=day,
        cohort_id=learner.enrolment.cohort_id if learner.enrolment else None,
        program_id=program,
        score=value,
        components=parts,
        at_risk=value < settings.at_risk_below,
        active_7d=any(active_first <= d <= day for d in learner.activity_days),
        completed=completed,
    )
