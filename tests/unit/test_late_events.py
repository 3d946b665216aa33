"""Late events count: the next tick re-scores every stale day back to the horizon (projections/late.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import tables as t
from projections.fold import fold_in_memory
from projections.late import counts_in_stored_scores, horizon, stale_days
from projections.memory import MemoryTables
from projections.scores import TICK_INPUTS, compute_day, score_rows
from tests.unit.test_engagement import Log, at

D = date(2026, 11, 27)
SCORE_COLUMNS = ("learner_id", "score", "signin", "attendance", "progress", "submissions", "at_risk", "completed")


def version(day: date, fact: int | None, scored: int | None) -> dict[str, Any]:
    return {"day": day, "fact_sequence": fact, "scored_sequence": scored}


def test_a_fact_after_the_scoring_makes_its_day_and_later_scored_days_stale() -> None:
    versions = [version(D - timedelta(days=3), 50, 10), version(D - timedelta(days=2), None, 20)]
    versions += [version(D - timedelta(days=1), 15, 30), version(D, None, 40)]
    # The fact of D−3 (sequence 50) came after every scoring; D itself is the tick's own day.
    assert stale_days(versions, D, 28) == [D - timedelta(days=3), D - timedelta(days=2), D - timedelta(days=1)]


def test_facts_older_than_the_scoring_or_the_horizon_make_nothing_stale() -> None:
    first = horizon(D, 28)
    versions = [version(first - timedelta(days=1), 99, None), version(first, None, 10)]
    versions += [version(D - timedelta(days=1), 5, 10)]  # folded before the day was scored
    assert stale_days(versions, D, 28) == []
    assert stale_days([version(first, 11, 10)], D, 28) == [first]  # the horizon is re-scored


def test_days_from_the_tick_on_are_left_to_their_own_ticks() -> None:
    assert stale_days([version(D, 99, 10), version(D + timedelta(days=1), 99, 10)], D, 28) == []


def test_an_event_before_the_next_nightly_ticks_horizon_does_not_change_stored_scores() -> None:
    today = D + timedelta(days=1)  # the next nightly tick is for D; its horizon is D − 28
    assert counts_in_stored_scores(D - timedelta(days=28), today, 28)
    assert not counts_in_stored_scores(D - timedelta(days=29), today, 28)
    assert counts_in_stored_scores(today, today, 7)


def fresh_rows(tables: MemoryTables, tick: dict[str, Any], day: date) -> dict[str, tuple[Any, ...]]:
    """The scores a tick of ``day`` would give now, from the facts as they stand."""
    facts = {table.name: tables.select(table, tenant_id="acme") for table in TICK_INPUTS}
    rows = score_rows("acme", compute_day(facts, day), tick)
    return {r.row["learner_id"]: tuple(r.row[c] for c in SCORE_COLUMNS) for r in rows}


def stored_rows(tables: MemoryTables, day: date) -> dict[str, tuple[Any, ...]]:
    return {r["learner_id"]: tuple(r[c] for c in SCORE_COLUMNS) for r in tables.select(t.DAILY_SCORES, day=day)}


LATE = st.lists(
    st.tuples(
        st.sampled_from(["learner.signed_in", "phase.advanced", "session", "assignment"]),
        st.sampled_from(["l1", "l2", "l3"]),
        st.integers(min_value=0, max_value=40),  # days before D
    ),
    max_size=8,
)


def add_late(log: Log, n: int, kind: str, learner: str, day: date) -> None:
    """One late learner fact dated ``day`` (sessions and assignments with the learner's part)."""
    if kind == "learner.signed_in":
        log.add(kind, {"learner_id": learner}, at(day))
    elif kind == "phase.advanced":
        log.add(kind, {"learner_id": learner, "program_id": "p", "phase": n + 1, "final": n % 3 == 2}, at(day))
    elif kind == "session":
        log.add("session.scheduled", {"session_id": f"s{n}", "cohort_id": "c", "starts_at": f"{day}T09:00:00Z"})
        log.add("session.attended", {"session_id": f"s{n}", "learner_id": learner}, at(day, 11))
    else:
        log.add("assignment.due", {"assignment_id": f"a{n}", "cohort_id": "c", "due_at": f"{day}T09:00:00Z"})
        log.add("submission.made", {"assignment_id": f"a{n}", "learner_id": learner}, at(day, 8))


def history_then_late(late: list[tuple[str, str, int]], window: int) -> tuple[Log, MemoryTables, MemoryTables]:
    """41 days ticked on time; then the late events and the next nightly tick (of D+1).
    Returns the log and the tables before and after the late part."""
    log = Log()
    log.add("tenant.settings_changed", {"window_days": window})
    for learner in ("l1", "l2", "l3"):
        log.enrol(learner)
    for day in DAYS:
        log.add("learner.signed_in", {"learner_id": "l1"}, at(day))
        log.tick(day)
    before = fold_in_memory(log.records)
    for n, (kind, learner, back) in enumerate(late):
        add_late(log, n, kind, learner, D - timedelta(days=back))
    log.tick(D + timedelta(days=1))
    return log, before, fold_in_memory(log.records)


DAYS = [D - timedelta(days=n) for n in range(40, -1, -1)]


@settings(max_examples=20, deadline=None)
@given(late=LATE, window=st.sampled_from([7, 28]))
def test_the_next_tick_makes_every_day_back_to_the_horizon_as_if_scored_now(
    late: list[tuple[str, str, int]], window: int
) -> None:
    """Late events dated from the horizon on: after the next tick every scored day from the
    horizon on holds the scores a tick of that day would give now; earlier days stay."""
    first = horizon(D + timedelta(days=1), window)
    log, before, after = history_then_late([e for e in late if D - timedelta(days=e[2]) >= first], window)
    for day in DAYS:
        expected = fresh_rows(after, log.records[-1], day) if day >= first else stored_rows(before, day)
        assert stored_rows(after, day) == expected, day


@settings(max_examples=20, deadline=None)
@given(late=LATE, window=st.sampled_from([7, 28]))
def test_events_dated_before_the_horizon_change_no_stored_score(late: list[tuple[str, str, int]], window: int) -> None:
    first = horizon(D + timedelta(days=1), window)
    _, before, after = history_then_late([e for e in late if D - timedelta(days=e[2]) < first], window)
    for day in DAYS:
        assert stored_rows(after, day) == stored_rows(before, day), day
