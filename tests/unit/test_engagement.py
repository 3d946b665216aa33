"""The score rules, end to end through the pure fold: events → facts → tick → score."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.sequencing import Append, SequencerState
from projections import tables as t
from projections.engagement import round_half_up, score
from projections.fold import fold_in_memory
from projections.scores import decimal6
from schemas.examples import cloud_event
from schemas.validation import Valid, validate_event

D = date(2026, 11, 27)
W = ["signin", "attendance", "progress", "submissions"]


def q(value: Fraction) -> object:
    """A component as stored (6 decimals, half up)."""
    return decimal6(value)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class Log:
    """Sequenced records of one tenant, built with the real sequencer rules."""

    def __init__(self, tenant: str = "acme") -> None:
        self.tenant = tenant
        self.state = SequencerState(timedelta(days=3650))
        self.records: list[dict[str, Any]] = []
        self.add("tenant.created", {"tenant_id": tenant, "name": tenant})
        self.add("program.created", {"program_id": "p", "name": "P", "owner_id": "o", "pace_days": 7})
        self.add("cohort.created", {"cohort_id": "c", "program_id": "p", "name": "C"})

    def add(self, kind: str, data: dict[str, Any], when: datetime | None = None, event_id: str | None = None) -> None:
        event = cloud_event(kind, data, tenant=self.tenant, time=when or at(D), event_id=event_id)
        valid = validate_event(event)
        assert isinstance(valid, Valid), valid
        batch = self.state.batch(datetime(2027, 1, 1, tzinfo=UTC))
        decision = batch.decide(valid)
        batch.commit()
        if isinstance(decision, Append):
            self.records.append(decision.record)

    def enrol(self, learner: str, cohort: str = "c") -> None:
        self.add("learner.enrolled", {"learner_id": learner, "cohort_id": cohort})

    def tick(self, day: date = D) -> None:
        self.add("engagement.recompute_requested", {"day": day.isoformat()})

    def scores(self, day: date = D) -> dict[str, dict[str, Any]]:
        rows = fold_in_memory(self.records).select(t.DAILY_SCORES, day=day)
        return {r["learner_id"]: r for r in rows}


def test_a_learner_with_no_events_gets_a_score_not_a_null() -> None:
    log = Log()
    log.enrol("l1")
    log.tick()
    row = log.scores()["l1"]
    # signin 0 (w .20), progress 0 (w .25); attendance and submissions absent.
    assert row["score"] == 0 and row["signin"] == 0 and row["attendance"] is None
    assert row["at_risk"] is True and row["active_7d"] is False


def test_window_edges_are_inclusive_and_exclusive_exactly() -> None:
    log = Log()
    log.enrol("l1")
    first = D - timedelta(days=27)
    for day in (first - timedelta(days=1), first, D, D + timedelta(days=1)):
        log.add("learner.signed_in", {"learner_id": "l1"}, at(day))
    log.tick()
    assert log.scores()["l1"]["signin"] == q(Fraction(2, 12))


def test_signin_counts_distinct_days_and_caps_at_one() -> None:
    log = Log()
    log.enrol("l1")
    for n in range(20):
        log.add("learner.signed_in", {"learner_id": "l1"}, at(D - timedelta(days=n % 14), hour=n % 20))
    log.tick()
    assert log.scores()["l1"]["signin"] == 1


def test_attendance_and_submissions_over_the_cohort_window() -> None:
    log = Log()
    log.enrol("l1")
    for n in range(4):
        log.add(
            "session.scheduled",
            {"session_id": f"s{n}", "cohort_id": "c", "starts_at": f"{D - timedelta(days=n * 10)}T09:00:00Z"},
        )
    log.add("session.attended", {"session_id": "s0", "learner_id": "l1"})
    log.add("session.attended", {"session_id": "s3", "learner_id": "l1"})  # s3 is outside the window
    log.add("assignment.due", {"assignment_id": "a1", "cohort_id": "c", "due_at": f"{D}T17:00:00Z"})
    log.add("assignment.due", {"assignment_id": "a2", "cohort_id": "c", "due_at": f"{D}T17:00:00Z"})
    log.add("submission.made", {"assignment_id": "a1", "learner_id": "l1"}, at(D - timedelta(days=1)))
    log.add("submission.made", {"assignment_id": "a2", "learner_id": "l1"}, at(D + timedelta(days=1)))
    log.tick()
    row = log.scores()["l1"]
    assert row["attendance"] == q(Fraction(1, 3))  # s0, s1, s2 start in the window
    assert row["submissions"] == q(Fraction(1, 2))  # a2 was submitted after D


def test_late_events_appended_after_the_tick_do_not_count_until_the_next_tick() -> None:
    log = Log()
    log.enrol("l1")
    log.tick()
    log.add("learner.signed_in", {"learner_id": "l1"}, at(D - timedelta(days=2)))  # dated in window
    assert log.scores()["l1"]["signin"] == 0
    log.tick()
    assert log.scores()["l1"]["signin"] == q(Fraction(1, 12))


def test_progress_counts_advances_against_pace_and_final_completes() -> None:
    log = Log()
    log.enrol("l1")
    log.enrol("l2")
    for n in range(2):  # W / pace = 28 / 7 = 4 expected
        log.add("phase.advanced", {"learner_id": "l1", "program_id": "p", "phase": n + 1, "final": False})
    log.add("phase.advanced", {"learner_id": "l1", "program_id": "other", "phase": 9, "final": True})
    log.add(
        "phase.advanced",
        {"learner_id": "l2", "program_id": "p", "phase": 5, "final": True},
        at(D - timedelta(days=60)),
    )
    log.tick()
    scores = log.scores()
    assert scores["l1"]["progress"] == q(Fraction(1, 2)) and scores["l1"]["completed"] is False
    assert scores["l2"]["progress"] == 1 and scores["l2"]["completed"] is True


def test_latest_enrolment_decides_cohort_and_unenrolled_cohorts_are_skipped() -> None:
    log = Log()
    log.add("cohort.created", {"cohort_id": "c2", "program_id": "p", "name": "C2"})
    log.enrol("l1")
    log.enrol("l1", "c2")
    log.tick()
    assert log.scores()["l1"]["cohort_id"] == "c2"


def test_duplicates_change_nothing() -> None:
    log = Log()
    log.enrol("l1")
    for n in range(5):
        log.add(
            "phase.advanced",
            {"learner_id": "l1", "program_id": "p", "phase": n + 1, "final": False},
            event_id=f"adv-{n}",
        )
        log.add("learner.signed_in", {"learner_id": "l1"}, at(D - timedelta(days=n)))
    log.tick()
    once = fold_in_memory(log.records)
    # Every record delivered twice (a redelivery), and twice again out of the sequencer's window.
    twice = fold_in_memory([r for r in log.records for _ in range(2)])
    assert once.rows == twice.rows


def test_rounding_is_half_up_in_exact_arithmetic() -> None:
    assert round_half_up(Fraction(45, 2)) == 23
    assert round_half_up(Fraction(89, 2)) == 45
    assert round_half_up(Fraction(449999, 10000)) == 45
    weights = {
        "signin": Fraction(1, 5),
        "attendance": Fraction(7, 20),
        "progress": Fraction(1, 4),
        "submissions": Fraction(1, 5),
    }
    # 100 × (0.2·0.5 + 0.25·0.5) ÷ 0.45 = 50 exactly; floats would be fine here, but
    # 100 × 0.35·(1/2) ÷ 0.35 + ... edge: signin 5/8 alone → 62.5 → 63
    assert score({"signin": Fraction(5, 8), "attendance": None, "progress": None, "submissions": None}, weights) == 63
    assert (
        score(
            {"signin": Fraction(1, 2), "attendance": None, "progress": Fraction(1, 2), "submissions": None},
            weights,
        )
        == 50
    )


def test_tenant_settings_change_window_weights_and_threshold() -> None:
    log = Log()
    log.enrol("l1")
    log.add("learner.signed_in", {"learner_id": "l1"}, at(D - timedelta(days=10)))
    log.add("tenant.settings_changed", {"window_days": 7, "at_risk_below": 0})
    log.tick()
    row = log.scores()["l1"]
    assert row["signin"] == 0 and row["at_risk"] is False


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["signin", "attend", "advance", "submit"]),
            st.integers(0, 40),
            st.sampled_from(["l1", "l2", "l3"]),
        ),
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_order_of_facts_between_ticks_does_not_matter(events: list, rng: random.Random) -> None:
    def build(order: list) -> dict:
        log = Log()
        for learner in ("l1", "l2", "l3"):
            log.enrol(learner)
        log.add("session.scheduled", {"session_id": "s", "cohort_id": "c", "starts_at": f"{D}T08:00:00Z"})
        log.add("assignment.due", {"assignment_id": "a", "cohort_id": "c", "due_at": f"{D}T08:00:00Z"})
        for n, (kind, days_ago, learner) in order:
            when = at(D - timedelta(days=days_ago))
            data = {
                "signin": ("learner.signed_in", {"learner_id": learner}),
                "attend": ("session.attended", {"session_id": "s", "learner_id": learner}),
                "advance": (
                    "phase.advanced",
                    {"learner_id": learner, "program_id": "p", "phase": 1, "final": days_ago == 0},
                ),
                "submit": ("submission.made", {"assignment_id": "a", "learner_id": learner}),
            }[kind]
            log.add(*data, when=when, event_id=f"e{n}")
        log.tick()
        return log.scores()

    numbered = list(enumerate(events))
    shuffled = numbered[:]
    rng.shuffle(shuffled)
    assert build(numbered) == build(shuffled)
    assert all(0 <= row["score"] <= 100 for row in build(numbered).values())


@pytest.mark.parametrize("weights", [(20, 35, 25, 20), (1, 0, 0, 0), (0, 0, 0, 5)])
def test_score_is_within_bounds_for_any_weights(weights: tuple[int, ...]) -> None:
    parts = {
        "signin": Fraction(1),
        "attendance": Fraction(0),
        "progress": Fraction(1, 3),
        "submissions": Fraction(2, 3),
    }
    value = score(parts, dict(zip(W, map(Fraction, weights), strict=True)))
    assert 0 <= value <= 100


def _reference_score(parts: dict, weights: dict) -> int:
    present = [(weights[k], min(Fraction(1), max(Fraction(0), v))) for k, v in parts.items() if v is not None]
    total = sum((w for w, _ in present), Fraction(0))
    if not present or total == 0:
        return 0
    return round_half_up(100 * sum((w * v for w, v in present), Fraction(0)) / total)


fractions_01 = st.fractions(min_value=0, max_value=1, max_denominator=60)


@settings(max_examples=500)
@given(
    st.fixed_dictionaries({k: st.none() | fractions_01 for k in W}),
    st.fixed_dictionaries({k: st.integers(0, 100) for k in W}),
)
def test_integer_score_equals_the_fraction_formula(parts: dict, weights: dict) -> None:
    weights = {k: Fraction(v) for k, v in weights.items()}
    assert score(parts, weights) == _reference_score(parts, weights)


def test_the_nightly_trigger_fires_at_0215_utc() -> None:
    from jobs.scheduler import recompute_trigger
    from skillmind.settings import load_settings

    trigger = recompute_trigger(load_settings())
    before = datetime(2026, 11, 28, 2, 14, 59, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, before) == datetime(2026, 11, 28, 2, 15, tzinfo=UTC)
    after = datetime(2026, 11, 28, 2, 15, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, after) == datetime(2026, 11, 29, 2, 15, tzinfo=UTC)
