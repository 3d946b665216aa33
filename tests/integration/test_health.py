"""Issue 8, honest health: a component that dies is named by /readyz within seconds, is
restarted (by its supervisor, or by whoever runs the process), and the pipeline catches up
with nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from projections.rebuild import checksums, rebuild
from skillmind import supervisor as sup
from skillmind.settings import Settings
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    post_fresh_event,
    running_pipeline,
    seed_history,
    wait_fresh_row,
    wait_until,
)


def _fast_health(settings: Settings) -> Settings:
    api = settings.api.model_copy(update={"heartbeat_stale_s": 3.0})
    return settings.model_copy(update={"api": api})


@contextmanager
def projections_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """`skillmind run projections` as its own process, on this test's topics and database."""
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "skillmind.cli", "run", "projections", "--instance", "p1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def _readiness(client: Any) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def test_a_killed_projections_process_is_named_then_catches_up(pipeline_settings: Settings) -> None:
    settings = _fast_health(pipeline_settings)
    with (
        running_pipeline(settings, ("sequencer", "scheduler", "exports", "notifications")),
        api_client(settings) as client,
    ):
        with projections_process(settings) as first:
            seed_history(client, settings)
            wait_until("ready", lambda: _readiness(client)[0] == 200)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        _, body = wait_until(
            "readiness to name the dead projections",
            lambda: (r := _readiness(client))[0] == 503 and "projections" in r[1]["failing"] and r,
            timeout_s=30,
        )
        assert "no heartbeat" in body["components"]["projections"]
        assert body["components"]["sequencer"] == "ok"
        post_fresh_event(client, settings, "acme", "acme-l1")  # lands while nobody folds
        with projections_process(settings):
            wait_fresh_row(client, settings, "acme", "acme-l1")
            wait_until("ready again", lambda: _readiness(client)[0] == 200)
    live = checksums(settings)
    assert rebuild(settings) == live


def test_a_failing_component_is_restarted_with_back_off_and_named_meanwhile(
    pipeline_settings: Settings, monkeypatch: Any
) -> None:
    settings = pipeline_settings
    failures = {"left": 3}
    real = sup.RUNNERS["projections"]

    def flaky(settings: Settings, instance: str, stop: threading.Event, progress: sup.Progress) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("injected failure: the database went away")
        real(settings, instance, stop, progress)

    monkeypatch.setitem(sup.RUNNERS, "projections", flaky)
    with running_pipeline(settings) as supervisor, api_client(settings) as client:
        _, body = wait_until(
            "readiness to name the failing component",
            lambda: (r := _readiness(client))[0] == 503 and "injected failure" in str(r[1]["components"]) and r,
            timeout_s=30,
            every_s=0.1,
        )
        assert "restarting" in body["components"]["projections"]
        seed_history(client, settings)
        wait_until("ready once it runs", lambda: _readiness(client)[0] == 200)
        assert supervisor.states["projections"].restarts == 3
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l2")
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        state, restarts = conn.execute(
            "select state, restarts from component_status where component = 'projections'"
        ).fetchone()  # type: ignore[misc]
    assert (state, restarts) == ("stopped", 3)
