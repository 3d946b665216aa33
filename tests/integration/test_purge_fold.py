"""The retention receipt's rule rendered twice (projections/purge.py): the SQL the PostgreSQL
writer runs and the Python the memory fold runs keep and remove the same learner-day rows,
over random histories with holds placed and released at random times and a random cutoff."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from projections.fold import fold_in_memory
from projections.purge import LEARNER_DAY_TABLES
from schemas.examples import EXAMPLE_DATA, cloud_event
from skillmind.settings import Settings
from tests.integration.test_audit_api import T0, activity, reseed


def _rows(records: list[dict[str, Any]]) -> dict[str, set[tuple[Any, ...]]]:
    tables = fold_in_memory(records)
    return {
        t.name: {tuple(r[c] for c in t.key_columns) for r in tables.rows.get(t.name, {}).values()}
        for t in LEARNER_DAY_TABLES
    }


@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=activity("ta"), cut_days=st.integers(0, 5), late=st.booleans())
def test_sql_and_python_purge_the_same_rows(
    report_db: Settings, history: list[dict[str, Any]], cut_days: int, late: bool
) -> None:
    import psycopg

    receipt = {**EXAMPLE_DATA["retention.purged"], "tenant_id": "ta"}
    receipt["learner_events_before"] = (T0.date() + timedelta(days=cut_days)).isoformat()
    events = [*history, cloud_event("retention.purged", receipt, tenant="ta", time=T0 + timedelta(days=6))]
    if late:  # written after the receipt, dated before its cutoff: stays
        events.append(cloud_event("learner.signed_in", {"learner_id": "l1"}, tenant="ta", time=T0))
    records = reseed(report_db, events)
    with psycopg.connect(report_db.postgres.conninfo()) as conn:
        stored = {
            t.name: {tuple(r) for r in conn.execute(f"select {', '.join(t.key_columns)} from readmodel.{t.name}")}
            for t in LEARNER_DAY_TABLES
        }
    assert stored == _rows(records)
    cutoff = T0.date() + timedelta(days=cut_days)
    before = {
        name: {key for key in rows if key[1 if name == "daily_scores" else 2] < cutoff} for name, rows in stored.items()
    }
    if not any(e["type"] == "legal_hold.placed" for e in history):  # nothing held: only the late row is old
        assert before["signin_days"] <= {("ta", "l1", T0.date())} and not before["activity_days"] - {
            ("ta", "l1", T0.date())
        }
