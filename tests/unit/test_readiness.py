"""The readiness rule, without services: which component is named, and why."""

from __future__ import annotations

from skillmind.readiness import InstanceRow, component_problems

REQUIRED = ("sequencer", "projections", "scheduler")


def row(component: str, **kw: object) -> InstanceRow:
    base: dict[str, object] = {
        "instance": "0",
        "state": "running",
        "restarts": 0,
        "last_error": None,
        "beat_age_s": 1.0,
        "running_for_s": 100.0,
        "progress_age_s": 1.0,
    }
    return InstanceRow(component, **{**base, **kw})  # type: ignore[arg-type]


def check(rows: list[InstanceRow], lags: dict[str, int] | None = None) -> dict[str, str]:
    return component_problems(rows, REQUIRED, lags or {}, partitions=6, stale_s=10, stall_s=30)


def test_all_running_and_beating_is_ready() -> None:
    assert check([row(c) for c in REQUIRED]) == dict.fromkeys(REQUIRED, "ok")


def test_a_missing_component_is_named() -> None:
    report = check([row("sequencer"), row("scheduler")])
    assert report["projections"].startswith("not running")


def test_a_stopped_instance_does_not_count_and_a_dead_one_is_named() -> None:
    report = check([row("sequencer"), row("scheduler"), row("projections", state="stopped")])
    assert report["projections"].startswith("not running")
    report = check([row("sequencer"), row("scheduler"), row("projections", beat_age_s=42.0)])
    assert "no heartbeat for 42 s" in report["projections"]


def test_a_restarting_component_says_why() -> None:
    failing = row("projections", state="restarting", restarts=3, last_error="OperationalError: gone")
    report = check([row("sequencer"), row("scheduler"), failing])
    assert "restarting (3 restarts so far): OperationalError: gone" in report["projections"]


def test_stalled_only_with_work_waiting_beyond_transaction_markers() -> None:
    idle = row("projections", progress_age_s=500.0)
    rows = [row("sequencer"), row("scheduler"), idle]
    assert check(rows, {"log": 6})["projections"] == "ok"  # one marker per partition: idle
    assert "stalled, 7 offsets waiting" in check(rows, {"log": 7})["projections"]
    young = row("projections", progress_age_s=None, running_for_s=5.0)
    assert check([row("sequencer"), row("scheduler"), young], {"log": 1000})["projections"] == "ok"


def test_one_healthy_instance_does_not_hide_a_dead_one() -> None:
    rows = [row("sequencer"), row("scheduler"), row("projections"), row("projections", instance="1", beat_age_s=60.0)]
    assert "instance 1: no heartbeat" in check(rows)["projections"]


def test_a_long_dead_instance_stops_counting_once_a_peer_took_over() -> None:
    rows = [row("sequencer"), row("scheduler"), row("projections"), row("projections", instance="1", beat_age_s=900.0)]
    assert check(rows)["projections"] == "ok"
    alone = [row("sequencer"), row("scheduler"), row("projections", instance="1", beat_age_s=900.0)]
    assert "no heartbeat for 900 s" in check(alone)["projections"]


def test_far_behind_is_not_ready_however_well_it_progresses() -> None:
    """A new-user trial saw ready:true with the projections 615,167 records behind."""
    rows = [row(c) for c in REQUIRED]
    behind = component_problems(rows, REQUIRED, {"log": 615_167}, partitions=6, stale_s=10, stall_s=30, max_lag=10_000)
    assert behind["projections"].startswith("catching up: 615167 offsets behind")
    assert behind["sequencer"] == "ok"
    near = component_problems(rows, REQUIRED, {"log": 10_000}, partitions=6, stale_s=10, stall_s=30, max_lag=10_000)
    assert near == dict.fromkeys(REQUIRED, "ok")
