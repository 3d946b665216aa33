"""Late events count, through the whole pipeline: HTTP ingest → sequencer → fold → tick → report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import psycopg

from projections.rebuild import checksums, rebuild
from projections.scores import decimal6
from schemas.examples import cloud_event
from skillmind.settings import Settings
from tests.integration.pipeline import api_client, bearer, post_events, running_pipeline, seed_history, wait_until

LEARNERS = [f"acme-l{n}" for n in range(6)]


def signins(client: Any, settings: Settings, day: date) -> dict[str, Decimal]:
    admin = bearer(settings, "acme", "admin-1", "company_admin")
    params = {"group_by": "learner", "day": day.isoformat()}
    response = client.get("/v1/reports/engagement", headers=admin, params=params)
    assert response.status_code == 200, response.text
    return {r["learner_id"]: Decimal(str(r["signin"])) for r in response.json()["rows"]}


def tick_sequences(settings: Settings, day: date) -> set[int]:
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        query = "select distinct tick_sequence from readmodel.daily_scores where tenant_id = 'acme' and day = %s"
        return {row[0] for row in conn.execute(query, [day])}


def late_signins(day: date) -> list[dict[str, Any]]:
    at = datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC)
    return [
        cloud_event("learner.signed_in", {"learner_id": learner}, tenant="acme", event_id=f"late-{learner}", time=at)
        for learner in LEARNERS
    ]


def test_a_late_event_is_counted_by_the_next_tick_and_a_too_old_one_says_so(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first, late_day = yesterday - timedelta(days=2), yesterday - timedelta(days=1)  # the seeded days
    with running_pipeline(settings, ("sequencer", "projections")), api_client(settings) as client:
        seed_history(client, settings, "acme", learners=len(LEARNERS))
        wait_until("every seeded day scored", lambda: tick_sequences(settings, yesterday))
        before_first, first_ticks = signins(client, settings, first), tick_sequences(settings, first)
        assert set(before_first) == set(LEARNERS)

        # Every learner signs in on the middle day, after it was scored; one more sign-in is too old.
        too_old = cloud_event(
            "learner.signed_in",
            {"learner_id": "acme-l0"},
            tenant="acme",
            event_id="late-too-old",
            time=datetime.now(UTC) - timedelta(days=40),
        )
        answer = post_events(client, settings, "acme", [*late_signins(late_day), too_old])
        assert [r["changes_stored_scores"] for r in answer["results"]] == [True] * len(LEARNERS) + [False]
        assert answer["accepted"] == len(LEARNERS) + 1

        # The next tick (a manual one for yesterday) re-scores the middle day.
        tick = cloud_event(
            "engagement.recompute_requested", {"day": yesterday.isoformat()}, tenant="acme", event_id="late-tick"
        )
        post_events(client, settings, "acme", [tick])
        # In the window of the middle day only the first day and itself: each learner now has
        # signed in on the middle day, and on the first day as the first day's score says.
        expected = {learner: decimal6(Fraction(1 + (value > 0), 12)) for learner, value in before_first.items()}
        wait_until("the middle day re-scored", lambda: signins(client, settings, late_day) == expected)
        assert tick_sequences(settings, first) == first_ticks, "a day before the late facts is left as it was"

    live = checksums(settings)
    assert rebuild(settings) == live, "a replay re-scores the same days into the same bytes"
