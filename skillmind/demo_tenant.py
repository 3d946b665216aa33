"""The demo tenant's year of history, shaped like the product page.

A company that has run 12 programs for a year. Each program runs cohorts one after
another (16 weeks each, sessions on Tuesdays and Thursdays, an assignment due every
Friday); learners join at their cohort's start, most finish it (a final phase in its
last week) and then come back now and then as alumni. So on the latest day about one
learner in eight is in a running cohort, completion is in the 80s %, engagement's median
in the 60s (an alumnus with no sessions left in the window is scored on sign-ins and
progress only), a few dozen drop-outs and stragglers are at risk, and roughly 900 of
3,000 learners were active in the last 7 days. Recompute ticks cover the last 8 weeks,
what the chart shows.

Deterministic for a seed: the same call gives the same events with the same ids.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.examples import cloud_event

COHORT_WEEKS = 16


@dataclass(frozen=True)
class DemoShape:
    tenant: str = "demo"
    programs: int = 12
    cohorts_per_program: int = 4
    learners: int = 3000
    days: int = 364
    tick_days: int = 56
    end: date = date(2026, 11, 29)
    seed: int = 7
    dropout: float = 0.012
    dormant: float = 0.42  # alumni who never come back


@dataclass(frozen=True)
class Learner:
    id: str
    index: int
    cohort: str
    program: str
    start: int  # day index of the cohort's first day
    diligence: float  # share of a running cohort's activity the learner does
    finishes: bool
    offset: int | None  # an alumnus comes back every 4 weeks from this day on; None: never
    visit: int  # days of such a visit


def _cohorts(shape: DemoShape) -> list[tuple[str, str, int]]:
    """(cohort, program, start day): starts staggered over the year, the last few still running."""
    total = shape.programs * shape.cohorts_per_program
    latest = shape.days - 80  # the newest cohort is in its 12th week
    cohorts = []
    for n in range(total):
        program = f"{shape.tenant}-p{n % shape.programs}"
        cohorts.append((f"{program}-c{n // shape.programs}", program, round(n * latest / (total - 1))))
    return cohorts


def _learners(shape: DemoShape, rng: random.Random) -> list[Learner]:
    cohorts = _cohorts(shape)
    people = []
    for i in range(shape.learners):
        cohort, program, start = cohorts[i % len(cohorts)]
        people.append(
            Learner(
                id=f"{shape.tenant}-l{i}",
                index=i,
                cohort=cohort,
                program=program,
                start=start,
                diligence=rng.betavariate(5, 1.6),
                finishes=rng.random() >= shape.dropout,
                offset=None if rng.random() < shape.dormant else rng.randrange(28),
                visit=rng.randint(1, 3),
            )
        )
    return people


def demo_history(shape: DemoShape) -> Iterator[dict[str, Any]]:
    """Directory, then day by day: each cohort's sessions and assignments, learners'
    sign-ins, attendance, submissions, phases, and (for the last ``tick_days``) a tick."""
    rng = random.Random(shape.seed)
    t = shape.tenant
    first = shape.end - timedelta(days=shape.days - 1)
    n = 0

    def event(kind: str, data: dict[str, Any], when: datetime) -> dict[str, Any]:
        nonlocal n
        n += 1
        return cloud_event(
            kind, data, tenant=t, event_id=f"{t}-demo-{n}", time=when, source="/skillmind/demo", actor="demo-import"
        )

    t0 = datetime(first.year, first.month, first.day, 6, tzinfo=UTC)
    yield event("tenant.created", {"tenant_id": t, "name": f"{t.title()} Corp"}, t0)
    for p in range(shape.programs):
        program = f"{t}-p{p}"
        data = {"program_id": program, "name": PROGRAM_NAMES[p % len(PROGRAM_NAMES)], "owner_id": f"{t}-owner-{p % 3}"}
        yield event("program.created", {**data, "pace_days": 7}, t0)
    for cohort, program, start in _cohorts(shape):
        when = t0 + timedelta(days=max(0, start - 7))
        yield event("cohort.created", {"cohort_id": cohort, "program_id": program, "name": cohort.split("-")[-1]}, when)
    learners = _learners(shape, rng)
    by_start: dict[int, list[Learner]] = {}
    for learner in learners:
        by_start.setdefault(learner.start, []).append(learner)
    for d in range(shape.days):
        day = first + timedelta(days=d)
        morning = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        for learner in by_start.get(d, []):
            yield from _join(event, t, learner, morning - timedelta(hours=2))
        yield from _cohort_day(event, shape, d, day, morning)
        for learner in learners:
            yield from _learner_day(event, rng, learner, d, day, morning, shape.days - 63)
        if d >= shape.days - shape.tick_days:
            yield event("engagement.recompute_requested", {"day": day.isoformat()}, morning + timedelta(hours=18))


PROGRAM_NAMES = (
    "Leadership Foundations", "Data Literacy", "Cloud Practitioner", "Sales Excellence",
    "Product Management", "Security Awareness", "People Management", "Agile Delivery",
    "Customer Success", "Finance for Managers", "Design Thinking", "Negotiation",
)  # fmt: skip


def _join(event: Any, t: str, learner: Learner, when: datetime) -> Iterator[dict[str, Any]]:
    i = learner.index
    yield event(
        "user.registered",
        {"user_id": learner.id, "display_name": f"Learner {i}", "email": f"l{i}@{t}.example", "roles": ["learner"]},
        when,
    )
    yield event("learner.enrolled", {"learner_id": learner.id, "cohort_id": learner.cohort}, when)
    yield event("manager.assigned", {"learner_id": learner.id, "manager_id": f"{t}-m{i % 10}"}, when)
    yield event("mentor.assigned", {"learner_id": learner.id, "mentor_id": f"{t}-mentor{i % 7}"}, when)


def _visit(learner: Learner, d: int, campaign: int) -> int:
    """Days of an alumnus's visit. A refresher campaign launched nine weeks ago lengthens
    them by a day every three weeks (alumni joining it on different days): the chart's rise."""
    return learner.visit + max(0, (d - campaign + learner.index % 21) // 21)


def _running(start: int, d: int) -> bool:
    return start <= d < start + 7 * COHORT_WEEKS


def _cohort_day(event: Any, shape: DemoShape, d: int, day: date, at: datetime) -> Iterator[dict[str, Any]]:
    for cohort, _, start in _cohorts(shape):
        if not _running(start, d):
            continue
        if day.weekday() in (1, 3):
            data = {"session_id": f"{cohort}-s{d}", "cohort_id": cohort, "starts_at": f"{day}T15:00:00Z"}
            yield event("session.scheduled", data, at)
        if day.weekday() == 4:
            data = {"assignment_id": f"{cohort}-a{d}", "cohort_id": cohort, "due_at": f"{day}T17:00:00Z"}
            yield event("assignment.due", data, at)


def _learner_day(
    event: Any, rng: random.Random, learner: Learner, d: int, day: date, at: datetime, campaign: int
) -> Iterator[dict[str, Any]]:
    if d < learner.start:
        return
    lid = learner.id
    if _running(learner.start, d):
        week = (d - learner.start) // 7
        # Drop-outs fade after the first month.
        keen = learner.diligence * (0.15 if not learner.finishes and week >= 4 else 1.0)
        if day.weekday() < 5 and rng.random() < keen * 0.75:
            for k in range(rng.randint(2, 5)):  # several sign-ins a day: devices, sessions
                yield event("learner.signed_in", {"learner_id": lid}, at + timedelta(hours=1 + 2 * k))
        if day.weekday() in (1, 3) and rng.random() < keen:
            data = {"session_id": f"{learner.cohort}-s{d}", "learner_id": lid}
            yield event("session.attended", data, at + timedelta(hours=8))
        if day.weekday() == 4 and rng.random() < keen:
            data = {"assignment_id": f"{learner.cohort}-a{d}", "learner_id": lid}
            yield event("submission.made", data, at + timedelta(hours=6))
        last_week = week == COHORT_WEEKS - 1
        if day.weekday() == 2 and (rng.random() < keen or (last_week and learner.finishes)):
            final = last_week and learner.finishes
            phase = {"learner_id": lid, "program_id": learner.program, "phase": week + 1, "final": final}
            yield event("phase.advanced", phase, at + timedelta(hours=4))
    elif learner.offset is not None and learner.finishes and (d - learner.offset) % 28 < _visit(learner, d, campaign):
        # An alumnus comes back once every four weeks for a few days (a refresher).
        for k in range(rng.randint(1, 3)):
            yield event("learner.signed_in", {"learner_id": lid}, at + timedelta(hours=2 + 4 * k))
