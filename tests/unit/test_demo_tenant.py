"""The demo tenant's history: valid, deterministic, and built as the module says."""

from __future__ import annotations

from collections import Counter
from datetime import date

from schemas.validation import Valid, validate_event
from skillmind.demo_tenant import DemoShape, demo_history

SMALL = DemoShape(learners=96, days=140, tick_days=14, end=date(2026, 11, 29))


def test_every_event_is_valid_with_a_unique_id_and_the_same_on_a_second_run() -> None:
    events = list(demo_history(SMALL))
    assert all(isinstance(validate_event(e), Valid) for e in events)
    assert len({e["id"] for e in events}) == len(events)
    assert events == list(demo_history(SMALL))


def test_directory_ticks_and_time_order() -> None:
    events = list(demo_history(SMALL))
    kinds = Counter(e["type"] for e in events)
    assert kinds["program.created"] == 12
    assert kinds["learner.enrolled"] == kinds["user.registered"] == 96
    assert kinds["engagement.recompute_requested"] == 14
    ticks = [e["data"]["day"] for e in events if e["type"] == "engagement.recompute_requested"]
    assert ticks[-1] == "2026-11-29"
    # A tick scores day D from the records before it: nothing dated D or earlier follows it.
    last_tick = max(i for i, e in enumerate(events) if e["type"] == "engagement.recompute_requested")
    assert all(e["time"][:10] > ticks[-1] for e in events[last_tick + 1 :])
