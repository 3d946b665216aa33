"""The demo tenant looks like the product page: its figures, folded by the real writer,
at a fifth of the scale (proportions hold; counts scale by five)."""

from __future__ import annotations

from datetime import date

import psycopg

from skillmind.demo_tenant import DemoShape, demo_history
from skillmind.settings import Settings
from tests.integration.readmodels import seed


def test_a_fifth_of_the_demo_has_the_product_pages_proportions(report_db: Settings) -> None:
    shape = DemoShape(learners=600, end=date(2026, 11, 29))
    seed(report_db.postgres.conninfo(), demo_history(shape))
    with psycopg.connect(report_db.postgres.conninfo()) as conn:
        learners, median, active, completion, at_risk = conn.execute(
            "select count(*), percentile_cont(0.5) within group (order by score), "
            "count(*) filter (where active_7d), avg(completed::int), count(*) filter (where at_risk) "
            "from readmodel.daily_scores where day = %s",
            [shape.end],
        ).fetchone()
        days = conn.execute("select count(distinct day) from readmodel.daily_scores").fetchone()[0]
    assert learners == 600 and days == shape.tick_days
    assert 60 <= median < 80  # engagement in the 60s–70s
    assert 0.25 <= active / learners <= 0.40  # about 900 of 3,000 weekly active
    assert 0.80 <= completion < 0.90  # completion in the 80s %
    assert 3 <= at_risk <= 20  # a few dozen of 3,000
