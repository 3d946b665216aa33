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

A tick first counts, per learner, what falls in the window (:class:`WindowCounts`), then
judges each distinct counts tuple once (:func:`judge`). PostgreSQL counts set-based for the
live and replayed read models (``projections/tick_store.py``); :func:`window_counts` counts
from facts in memory and is the reference both are tested against.

Scope figures are aggregates of these rows: see ``projections/figures.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from math import floor, lcm
from typing import NamedTuple

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


class WindowCounts(NamedTuple):
    """What the score of one learner on one day depends on, as integer counts (the rule's
    input): the store counts them set-based in SQL, the reference from facts below.

    Learners with equal counts get equal scores, so a tick scores each distinct tuple once."""

    signin_days: int  # distinct window dates with a sign-in
    sessions: int  # cohort sessions starting in the window
    attended: int  # of those, attended by the learner
    enrolled: bool  # in a cohort of a known program
    final: bool  # a final advance for the program dated ≤ D
    advances: int  # advances for the program dated in the window
    pace_days: int  # the program's pace (0 when not enrolled)
    due: int  # cohort assignments due in the window
    submitted: int  # of those, submitted by the learner dated ≤ D


def window_counts(learner: LearnerFacts, cohort: CohortFacts, day: date, settings: ScoreSettings) -> WindowCounts:
    """The counts of ``learner`` on ``day`` from their facts (the reference for the SQL counts)."""
    first, last = window(day, settings.window_days)

    def in_window(d: date) -> bool:
        return first <= d <= last

    sessions = {s for s, d in cohort.sessions.items() if in_window(d)}
    due = [a for a, d in cohort.assignments.items() if in_window(d)]
    enrolment = learner.enrolment
    mine = [(d, final) for p, d, final in learner.advances if enrolment and p == enrolment.program_id]
    return WindowCounts(
        signin_days=sum(1 for d in learner.signin_days if in_window(d)),
        sessions=len(sessions),
        attended=len(sessions & learner.attended_sessions),
        enrolled=enrolment is not None,
        final=any(final and d <= day for d, final in mine),
        advances=sum(1 for d, _ in mine if in_window(d)),
        pace_days=enrolment.pace_days if enrolment else 0,
        due=len(due),
        submitted=sum(1 for a in due if a in learner.submitted and learner.submitted[a] <= day),
    )


def components_of(counts: WindowCounts, window_days: int) -> dict[str, Fraction | None]:
    """The four components from the counts; None where the component has no denominator."""
    signin = Fraction(min(counts.signin_days, SIGNIN_TARGET_DAYS), SIGNIN_TARGET_DAYS)
    attendance = Fraction(counts.attended, counts.sessions) if counts.sessions else None
    progress = None
    if counts.enrolled:
        # advances ÷ (W ÷ pace) = advances × pace ÷ W, capped at 1; a final advance completes it
        advanced = counts.advances * counts.pace_days
        progress = Fraction(1) if counts.final else Fraction(min(advanced, window_days), window_days)
    submissions = Fraction(counts.submitted, counts.due) if counts.due else None
    return {"signin": signin, "attendance": attendance, "progress": progress, "submissions": submissions}


def components(
    learner: LearnerFacts, cohort: CohortFacts, day: date, settings: ScoreSettings
) -> dict[str, Fraction | None]:
    return components_of(window_counts(learner, cohort, day, settings), settings.window_days)


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


@dataclass(frozen=True)
class Judged:
    """The score of one counts tuple: components, score and the at-risk flag."""

    components: Mapping[str, Fraction | None]
    score: int
    at_risk: bool


def judge(counts: WindowCounts, settings: ScoreSettings) -> Judged:
    """Components, score and at-risk of a learner-day from its counts (the whole rule)."""
    parts = components_of(counts, settings.window_days)
    value = score(parts, settings.weights)
    return Judged(parts, value, value < settings.at_risk_below)


def daily_score(learner: LearnerFacts, cohort: CohortFacts, day: date, settings: ScoreSettings) -> DailyScore:
    counts = window_counts(learner, cohort, day, settings)
    judged = judge(counts, settings)
    active_first = day - timedelta(days=6)
    return DailyScore(
        learner_id=learner.learner_id,
        day=day,
        cohort_id=learner.enrolment.cohort_id if learner.enrolment else None,
        program_id=learner.enrolment.program_id if learner.enrolment else None,
        score=judged.score,
        components=judged.components,
        at_risk=judged.at_risk,
        active_7d=any(active_first <= d <= day for d in learner.activity_days),
        completed=counts.final,
    )
