"""The whole pipeline running for a test: supervisor (sequencer, projections, scheduler) in a
thread and the API in a TestClient — and the check every bad-input test ends with: a fresh
event still reaches a report."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import mint_token
from schemas.envelope import BATCH_CONTENT_TYPE
from schemas.examples import cloud_event
from skillmind.settings import Settings
from skillmind.supervisor import Supervisor

COMPONENTS = ("sequencer", "projections", "scheduler", "exports", "notifications")


@contextmanager
def running_pipeline(settings: Settings, names: tuple[str, ...] = COMPONENTS) -> Iterator[Supervisor]:
    supervisor = Supervisor(settings, names, instance=f"test-{uuid.uuid4().hex[:6]}", beat_every_s=0.5)
    thread = threading.Thread(target=supervisor.run, name="supervisor", daemon=True)
    thread.start()
    try:
        yield supervisor
    finally:
        supervisor.stop.set()
        thread.join(60)


@contextmanager
def api_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def bearer(settings: Settings, tenant: str, user: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings.api, tenant=tenant, user=user, roles=list(roles))}"}


def wait_until(what: str, check: Any, timeout_s: float = 90.0, every_s: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")


def post_events(client: TestClient, settings: Settings, tenant: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    headers = {**bearer(settings, tenant, "root", "platform_admin"), "Content-Type": BATCH_CONTENT_TYPE}
    response = client.post("/v1/events", headers=headers, json=events)
    assert response.status_code == 202, response.text
    return response.json()


def post_fresh_event(client: TestClient, settings: Settings, tenant: str, learner: str) -> None:
    """A sign-in of ``learner`` now, then a tick for today (unique ids)."""
    now = datetime.now(UTC).replace(microsecond=0)
    marker = uuid.uuid4().hex[:8]
    events = [
        cloud_event("learner.signed_in", {"learner_id": learner}, tenant=tenant, event_id=f"fresh-{marker}", time=now),
        cloud_event(
            "engagement.recompute_requested",
            {"day": now.date().isoformat()},
            tenant=tenant,
            event_id=f"fresh-tick-{marker}",
            time=now,
        ),
    ]
    result = post_events(client, settings, tenant, events)
    assert result["accepted"] == 2, result


def wait_fresh_row(client: TestClient, settings: Settings, tenant: str, learner: str, timeout_s: float = 90) -> None:
    """Until ``learner``'s row for today is in the reports endpoint with a sign-in above zero."""
    admin = bearer(settings, tenant, "admin-1", "company_admin")
    today = datetime.now(UTC).date().isoformat()

    def row() -> dict[str, Any] | None:
        response = client.get("/v1/reports/engagement", headers=admin, params={"group_by": "learner", "day": today})
        if response.status_code != 200:
            return None
        rows = [r for r in response.json()["rows"] if r["learner_id"] == learner]
        return rows[0] if rows and rows[0]["signin"] and float(rows[0]["signin"]) > 0 else None

    wait_until(f"a fresh event of {learner} in today's report", row, timeout_s)


def assert_fresh_event_reaches_report(client: TestClient, settings: Settings, tenant: str, learner: str) -> None:
    """The check every bad-input test ends with: the pipeline still folds a new event."""
    post_fresh_event(client, settings, tenant, learner)
    wait_fresh_row(client, settings, tenant, learner)


def seed_history(client: TestClient, settings: Settings, tenant: str = "acme", learners: int = 6) -> None:
    """A few days of a small tenant through HTTP ingest, waited for until a report shows it."""
    from datetime import timedelta

    from skillmind.workload import Shape, history

    end = datetime.now(UTC).date() - timedelta(days=1)
    events = list(history(Shape(tenant=tenant, programs=1, learners=learners, days=3, end=end)))
    for start in range(0, len(events), 500):
        assert post_events(client, settings, tenant, events[start : start + 500])["rejected"] == 0
    admin = bearer(settings, tenant, "admin-1", "company_admin")

    def rows() -> Any:
        response = client.get("/v1/reports/engagement", headers=admin, params={"group_by": "learner"})
        return response.status_code == 200 and response.json()["rows"]

    wait_until("the seeded history in a report", rows)


def quarantine_rows(settings: Settings) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.postgres.conninfo(), autocommit=True, row_factory=dict_row) as conn:
        return conn.execute("select * from readmodel.quarantine order by log_partition, log_offset").fetchall()
