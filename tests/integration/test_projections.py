"""Projections against the real Kafka and PostgreSQL: live = rebuild = pure fold, exactly once."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from events.inbox import InboxWriter
from events.reader import read_to_end
from events.topics import topic_name
from jobs.scheduler import days_to_catch_up, scheduled_ticks
from projections.fold import fold_in_memory
from projections.live import LiveProjections
from projections.rebuild import checksums, rebuild
from projections.runner import READ_MODEL_SCHEMA, LogMessage, ReadModelWriter, ensure_schema
from projections.tables import ALL_TABLES
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.logtools import log_records, running_sequencer, wait_drained


@pytest.fixture
def fresh_db(report_db: Settings) -> str:
    return report_db.postgres.dbname


def sequence(settings: Settings, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    writer = InboxWriter(settings.kafka)
    writer.append(events)
    writer.close()
    with running_sequencer(settings):
        wait_drained(settings)
    return log_records(settings)


def run_processor_until(settings: Settings, database: str, applied: int) -> LiveProjections:
    stop = threading.Event()
    processor = LiveProjections(settings, database=database)
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while processor.counters.applied < applied and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.1)
    time.sleep(0.5)  # let the outbox publish
    stop.set()
    thread.join(30)
    assert processor.counters.applied == applied
    return processor


def _hashable(row: Any) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def pg_rows(settings: Settings, database: str) -> dict[str, set[tuple]]:
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        return {
            t.name: {
                _hashable(r)
                for r in conn.execute(
                    sql.SQL("select {} from {}").format(
                        sql.SQL(", ").join(map(sql.Identifier, t.columns)),
                        sql.Identifier(READ_MODEL_SCHEMA, t.name),
                    )
                )
            }
            for t in ALL_TABLES
        }


def memory_rows(records: list[dict[str, Any]]) -> dict[str, set[tuple]]:
    tables = fold_in_memory(records)
    return {
        t.name: {_hashable(row[c] for c in t.columns) for row in tables.rows.get(t.name, {}).values()}
        for t in ALL_TABLES
    }


def test_live_equals_rebuild_equals_pure_fold(log_settings: Settings, fresh_db: str) -> None:
    events = list(history(Shape(tenant="acme", learners=40, days=21)))
    events += list(history(Shape(tenant="beta", learners=25, days=14, seed=2)))
    records = sequence(log_settings, events)
    assert len(records) == len(events)

    processor = run_processor_until(log_settings, fresh_db, len(records))
    live = checksums(log_settings, database=fresh_db)
    assert live["daily_scores"].split(":")[0] == str(40 * 21 + 25 * 14)
    assert pg_rows(log_settings, fresh_db) == memory_rows(records)

    rebuilt = rebuild(log_settings, database=fresh_db)
    assert rebuilt == live
    assert rebuild(log_settings, database=fresh_db) == live, "replaying twice gives the same checksums"

    published = [
        json.loads(m.value())
        for m in read_to_end(log_settings.kafka, topic_name(log_settings.kafka, "engagement-scores"))
    ]
    assert len({p["id"] for p in published}) == 40 * 21 + 25 * 14
    assert processor.counters.published >= len({p["id"] for p in published})


def test_redelivery_applies_nothing_twice(log_settings: Settings, fresh_db: str) -> None:
    records = sequence(log_settings, list(history(Shape(tenant="acme", learners=10, days=5))))
    messages = [LogMessage(0, n, r) for n, r in enumerate(records)]
    with psycopg.connect(log_settings.postgres.conninfo(fresh_db), autocommit=True) as conn:
        ensure_schema(conn)
        writer = ReadModelWriter(conn, "log", publish=False)
        first = writer.apply(messages[:30])
        again = writer.apply(messages)  # the first 30 redelivered with the rest
        assert (first.applied, again.skipped, again.applied) == (30, 30, len(records) - 30)
        assert writer.apply(messages).applied == 0
    assert pg_rows(log_settings, fresh_db) == memory_rows(records)


def test_a_gap_stops_the_partition_and_asks_for_a_rewind(log_settings: Settings, fresh_db: str) -> None:
    records = sequence(log_settings, list(history(Shape(tenant="acme", learners=5, days=3))))
    messages = [LogMessage(0, n, r) for n, r in enumerate(records)]
    with psycopg.connect(log_settings.postgres.conninfo(fresh_db), autocommit=True) as conn:
        ensure_schema(conn)
        writer = ReadModelWriter(conn, "log", publish=False)
        writer.apply(messages[:10])
        outcome = writer.apply(messages[12:])
        assert outcome.applied == 0 and outcome.rewind == {0: 10}


def test_scheduler_appends_one_tick_per_tenant_and_day(log_settings: Settings, fresh_db: str) -> None:
    sequence(
        log_settings,
        [e for e in history(Shape(tenant="acme", learners=3, days=2, ticks=False))]
        + [e for e in history(Shape(tenant="beta", learners=3, days=2, ticks=False))],
    )
    run_processor_until(log_settings, fresh_db, len(log_records(log_settings)))
    day = date(2026, 11, 27)
    # Two schedulers at 02:15 at once, then a restart that catches up.
    threads = [threading.Thread(target=scheduled_ticks, args=(log_settings, [day], fresh_db)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert days_to_catch_up(log_settings, date(2026, 11, 28), fresh_db) == []
    scheduled_ticks(log_settings, [day], fresh_db)  # the restart
    with running_sequencer(log_settings):
        wait_drained(log_settings)
    ticks = [r for r in log_records(log_settings) if r["type"] == "engagement.recompute_requested"]
    assert sorted((r["tenantid"], r["data"]["day"]) for r in ticks) == [
        ("acme", "2026-11-27"),
        ("beta", "2026-11-27"),
    ]


def test_rebuilding_one_tenant_repairs_it_and_touches_no_other(log_settings: Settings, fresh_db: str) -> None:
    from projections.rebuild import rebuild_tenant
    from projections.store import table_checksums

    records = sequence(
        log_settings,
        list(history(Shape(tenant="acme", learners=8, days=6)))
        + list(history(Shape(tenant="beta", learners=5, days=4, seed=3))),
    )
    run_processor_until(log_settings, fresh_db, len(records))
    with psycopg.connect(log_settings.postgres.conninfo(fresh_db), autocommit=True) as conn:
        before = {t: table_checksums(conn, READ_MODEL_SCHEMA, tenant=t) for t in ("acme", "beta")}
        conn.execute("update readmodel.daily_scores set score = 0 where tenant_id = 'acme'")
        conn.execute("delete from readmodel.signin_days where tenant_id = 'acme'")
        assert table_checksums(conn, READ_MODEL_SCHEMA, tenant="acme") != before["acme"]
    assert rebuild_tenant(log_settings, "acme", database=fresh_db) == before["acme"]
    with psycopg.connect(log_settings.postgres.conninfo(fresh_db), autocommit=True) as conn:
        assert table_checksums(conn, READ_MODEL_SCHEMA, tenant="beta") == before["beta"]


def test_late_events_rescore_the_same_days_live_and_in_the_pure_fold(log_settings: Settings, fresh_db: str) -> None:
    """The stale days in SQL (tick_store) are the stale days of the reference (projections/late.py)."""
    from schemas.examples import cloud_event

    shape = Shape(tenant="acme", learners=12, days=10)
    events = list(history(shape))
    late = [
        ("learner.signed_in", {"learner_id": "acme-l1"}, 3),
        ("phase.advanced", {"learner_id": "acme-l2", "program_id": "acme-p1", "phase": 3, "final": True}, 6),
        ("session.attended", {"session_id": "acme-p0-c0-s1", "learner_id": "acme-l0"}, 8),
        ("learner.signed_in", {"learner_id": "acme-l3"}, 40),  # before the horizon: no day re-scored
    ]
    for n, (kind, data, back) in enumerate(late):
        when = datetime.combine(shape.end - timedelta(days=back), datetime.min.time(), UTC) + timedelta(hours=20)
        events.append(cloud_event(kind, data, tenant="acme", event_id=f"late-{n}", time=when))
    tick_day = (shape.end + timedelta(days=1)).isoformat()
    events.append(cloud_event("engagement.recompute_requested", {"day": tick_day}, tenant="acme", event_id="late-tick"))
    records = sequence(log_settings, events)
    run_processor_until(log_settings, fresh_db, len(records))
    assert pg_rows(log_settings, fresh_db) == memory_rows(records)
    rescored = {row[1] for row in pg_rows(log_settings, fresh_db)["daily_scores"] if row[-2] == records[-1]["sequence"]}
    assert rescored == {shape.end - timedelta(days=n) for n in range(-1, 9)}, "back to the oldest late fact"


def test_a_retention_receipt_removes_the_same_rows_live_in_replay_and_in_the_pure_fold(
    log_settings: Settings, fresh_db: str
) -> None:
    """The receipt's fold (projections/purge.py): learner-day rows before the cutoff go, every
    row of a learner an active hold keeps stays, rows written after the receipt stay; the
    PostgreSQL writer (live and rebuilt) equals the memory fold, which renders the rule apart."""
    from schemas.examples import EXAMPLE_DATA, cloud_event

    shape = Shape(tenant="acme", learners=12, days=14)
    events = list(history(shape)) + list(history(Shape(tenant="beta", learners=5, days=14, seed=3)))
    start = datetime.combine(shape.end - timedelta(days=13), datetime.min.time(), UTC)
    cutoff = shape.end - timedelta(days=6)

    def hold(hold_id: str, scope: str, scope_id: str | None, **bounds: str) -> dict[str, Any]:
        data = {"hold_id": hold_id, "scope": scope, "case_reference": "CASE-1", "reason": "Tribunal.", **bounds}
        return cloud_event(
            "legal_hold.placed",
            data | ({"scope_id": scope_id} if scope_id else {}),
            tenant="acme",
            event_id=f"hold-{hold_id}",
        )

    day_two = (start + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    day_three = (start + timedelta(days=2, hours=23)).isoformat().replace("+00:00", "Z")
    events += [
        hold("h-learner", "learner", "acme-l1"),  # keeps acme-l1 whatever the day
        hold("h-window", "learner", "acme-l2", from_time=day_two, to_time=day_three),  # a record in range: kept
        hold("h-late", "learner", "acme-l3", from_time=cutoff.isoformat() + "T00:00:00Z"),  # only newer records
        hold("h-gone", "learner", "acme-l4"),
        cloud_event("legal_hold.released", {"hold_id": "h-gone", "reason": "Closed."}, tenant="acme", event_id="rel"),
    ]
    receipt = {
        **EXAMPLE_DATA["retention.purged"],
        "tenant_id": "acme",
        "learner_events_before": cutoff.isoformat(),
        "mutations_before": "2019-01-01",
    }
    events.append(cloud_event("retention.purged", receipt, tenant="acme", event_id="receipt-1"))
    # After the receipt: a late sign-in on an old day stays (it was not there to be purged).
    old = datetime.combine(shape.end - timedelta(days=12), datetime.min.time(), UTC) + timedelta(hours=9)
    events.append(cloud_event("learner.signed_in", {"learner_id": "acme-l5"}, tenant="acme", event_id="late", time=old))
    records = sequence(log_settings, events)
    run_processor_until(log_settings, fresh_db, len(records))

    live = pg_rows(log_settings, fresh_db)
    assert live == memory_rows(records)
    old_signins = {(row[1], row[2]) for row in live["signin_days"] if row[0] == "acme" and row[2] < cutoff}
    assert {learner for learner, _ in old_signins} == {"acme-l1", "acme-l2", "acme-l5"}
    assert {day for learner, day in old_signins if learner == "acme-l5"} == {old.date()}
    assert any(row[0] == "beta" and row[2] < cutoff for row in live["signin_days"]), "another tenant untouched"
    scored = {(row[2], row[1]) for row in live["daily_scores"] if row[0] == "acme"}  # key: tenant, day, learner
    assert not any(learner == "acme-l4" and day < cutoff for learner, day in scored), "a released hold keeps nothing"
    assert any(learner == "acme-l1" and day < cutoff for learner, day in scored)
    assert rebuild(log_settings, database=fresh_db) == checksums(log_settings, database=fresh_db)
