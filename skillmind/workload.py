"""Plausible learning histories: the demo tenant, test fixtures and benchmark loads.

Deterministic for a seed: the same arguments give the same events with the same ids,
so seeding twice adds nothing to the log.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.examples import cloud_event


@dataclass(frozen=True)
class Shape:
    tenant: str = "demo"
    programs: int = 3
    cohorts_per_program: int = 2
    learners: int = 60
    days: int = 56
    end: date = date(2026, 11, 27)
    seed: int = 1
    ticks: bool = True


def history(shape: Shape) -> Iterator[dict[str, Any]]:
    """Directory first, then day by day: sessions, assignments, learner activity, a tick."""
    rng = random.Random(shape.seed)
    t = shape.tenant
    start = shape.end - timedelta(days=shape.days - 1)
    n = 0

    def event(kind: str, data: dict[str, Any], when: datetime) -> dict[str, Any]:
        nonlocal n
        n += 1
        return cloud_event(
            kind,
            data,
            tenant=t,
            event_id=f"{t}-{shape.seed}-{n}",
            time=when,
            source="/skillmind/workload",
            actor="workload",
        )

    t0 = datetime(start.year, start.month, start.day, 6, tzinfo=UTC)
    yield event("tenant.created", {"tenant_id": t, "name": f"{t.title()} Corp"}, t0)
    cohorts = []
    for p in range(shape.programs):
        program = f"{t}-p{p}"
        yield event(
            "program.created",
            {
                "program_id": program,
                "name": f"Program {p}",
                "owner_id": f"{t}-owner-{p % 3}",
                "pace_days": rng.choice([7, 14]),
            },
            t0,
        )
        for c in range(shape.cohorts_per_program):
            cohort = f"{program}-c{c}"
            cohorts.append((cohort, program))
            yield event("cohort.created", {"cohort_id": cohort, "program_id": program, "name": f"C{c}"}, t0)
    learners = []
    for i in range(shape.learners):
        learner, (cohort, program) = f"{t}-l{i}", cohorts[i % len(cohorts)]
        diligence = rng.random()
        learners.append((learner, cohort, program, diligence))
        yield event(
            "user.registered",
            {
                "user_id": learner,
                "display_name": f"Learner {i}",
                "email": f"l{i}@{t}.example",
                "roles": ["learner"],
            },
            t0,
        )
        yield event("learner.enrolled", {"learner_id": learner, "cohort_id": cohort}, t0)
        yield event("manager.assigned", {"learner_id": learner, "manager_id": f"{t}-m{i % 10}"}, t0)
        yield event("mentor.assigned", {"learner_id": learner, "mentor_id": f"{t}-mentor{i % 7}"}, t0)
    for d in range(shape.days):
        day = start + timedelta(days=d)
        at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        sessions = []
        if day.weekday() in (1, 3):
            for cohort, _ in cohorts:
                session = f"{cohort}-s{d}"
                sessions.append((session, cohort))
                yield event(
                    "session.scheduled",
                    {"session_id": session, "cohort_id": cohort, "starts_at": f"{day}T15:00:00Z"},
                    at,
                )
        if day.weekday() == 4:
            for cohort, _ in cohorts:
                yield event(
                    "assignment.due",
                    {"assignment_id": f"{cohort}-a{d}", "cohort_id": cohort, "due_at": f"{day}T17:00:00Z"},
                    at,
                )
        for learner, cohort, program, diligence in learners:
            if rng.random() < diligence * 0.8:
                yield event("learner.signed_in", {"learner_id": learner}, at + timedelta(hours=rng.randint(0, 8)))
            for session, session_cohort in sessions:
                if session_cohort == cohort and rng.random() < diligence:
                    yield event(
                        "session.attended",
                        {"session_id": session, "learner_id": learner},
                        at + timedelta(hours=7),
                    )
            if day.weekday() == 4 and rng.random() < diligence:
                yield event(
                    "submission.made",
                    {"assignment_id": f"{cohort}-a{d}", "learner_id": learner},
                    at + timedelta(hours=6),
                )
            if rng.random() < diligence / 10:
                yield event(
                    "phase.advanced",
                    {
                        "learner_id": learner,
                        "program_id": program,
                        "phase": 1 + d // 7,
                        "final": d >= shape.days - 7,
                    },
                    at + timedelta(hours=5),
                )
        if shape.ticks:
            yield event("engagement.recompute_requested", {"day": day.isoformat()}, at + timedelta(days=1, hours=-6))


def write_log(
    settings: Any, events: Iterable[dict[str, Any]], *, now: datetime | None = None, state: Any = None
) -> int:
    """Write events straight into the log topic, numbered and chained by the sequencer's own
    rules (``SequencerState``) — for benchmarks and tests that start from a given log. Pass
    the ``state`` of an earlier call to continue its chains. Production writers go through
    the inbox."""
    from confluent_kafka import Producer

    from events.chain import jcs
    from events.kafka import producer_config
    from events.partitioning import partition_for
    from events.sequencing import Append, SequencerState
    from events.topics import topic_name
    from schemas.validation import Valid, validate_event

    topic = topic_name(settings.kafka, "log")
    producer = Producer(producer_config(settings.kafka, **{"linger.ms": 20, "batch.size": 1_000_000}))
    state = state or SequencerState(timedelta(days=7))
    batch = state.batch(now or datetime.now(UTC))
    written = 0
    for event in events:
        valid = validate_event(event)
        if not isinstance(valid, Valid):
            raise ValueError(f"workload event is invalid: {valid.reason}")
        decision = batch.decide(valid)
        if not isinstance(decision, Append):
            continue
        tenant = decision.record["tenantid"]
        while True:
            try:
                producer.produce(
                    topic,
                    key=tenant.encode(),
                    value=jcs(decision.record),
                    partition=partition_for(tenant, settings.kafka.partitions),
                )
                break
            except BufferError:
                producer.poll(0.05)
        written += 1
        if written % 50_000 == 0:
            batch.commit()
            batch = state.batch(now or datetime.now(UTC))
    batch.commit()
    if producer.flush(120):
        raise RuntimeError("the log did not acknowledge every record")
    return written
