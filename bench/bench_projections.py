"""Projections: replay throughput, a per-event faust agent, the raw consume rate, and the
nightly recompute, at 0.1× and 1× size.

    .venv/bin/python -m bench.bench_projections            # 1× = ~1.4M events, 100k learners
    .venv/bin/python -m bench.bench_projections --scale 0.1

Needs the services (`make services`). Every figure is measured in the same run as its
baseline (the raw confluent-kafka consume rate of the same log).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import date

import faust
import psycopg

from bench.common import Rate, isolated_settings, report, timed
from events.reader import read_to_end
from events.topics import topic_name
from projections.database import create_database, drop_database
from projections.live import _Transport  # noqa: F401 - registers the read_committed transport
from projections.rebuild import rebuild
from projections.runner import LogMessage, ReadModelWriter, ensure_schema
from projections.scores import TICK_INPUTS
from schemas.examples import cloud_event
from skillmind.settings import Settings
from skillmind.workload import Shape, history, write_log

EVENTS_PER_LEARNER = 41  # of Shape(days=56), measured


def fresh_database(settings: Settings) -> str:
    return create_database(settings.postgres, f"bench_{uuid.uuid4().hex[:8]}")


def raw_consume(settings: Settings) -> int:
    return sum(1 for _ in read_to_end(settings.kafka, topic_name(settings.kafka, "log")))


def per_event_faust(settings: Settings, database: str, seconds: float) -> int:
    """A plain faust agent applying the same fold one event (one transaction) at a time."""
    conn = psycopg.connect(settings.postgres.conninfo(database), autocommit=True)
    ensure_schema(conn)
    log_topic = topic_name(settings.kafka, "log")
    writer = ReadModelWriter(conn, log_topic, publish=False)
    app = faust.App(
        f"bench-{uuid.uuid4().hex[:6]}",
        broker=f"skillmind-kafka://{settings.kafka.bootstrap_servers}",
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(log_topic, value_type=bytes, value_serializer="raw", key_serializer="raw")
    done = [0]

    async def agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            writer.apply([LogMessage.parse(event.message.partition, event.message.offset, event.value)])
            done[0] += 1

    app.agent(topic, name="per_event")(agent)

    async def serve() -> None:
        await app.start()
        while not done[0]:
            await asyncio.sleep(0.05)
        started, at_start = time.perf_counter(), done[0]
        await asyncio.sleep(seconds)
        measured[0] = (done[0] - at_start, time.perf_counter() - started)
        await app.stop()

    measured = [(0, 0.0)]
    asyncio.run(serve())
    conn.close()
    return measured[0]  # type: ignore[return-value]


def replay_at(scale: float) -> list[Rate]:
    learners = max(100, int(1_400_000 * scale / EVENTS_PER_LEARNER / 4))
    settings = isolated_settings()
    events = sum(
        write_log(settings, history(Shape(tenant=f"t{n}", learners=learners, days=56, seed=n))) for n in range(4)
    )
    label = f"{scale:g}×"
    baseline = timed(f"{label} raw confluent-kafka consume of the log", events, lambda: raw_consume(settings))
    database = fresh_database(settings)
    try:
        replay = timed(
            f"{label} replay into all read models (batches of 5000)",
            events,
            lambda: rebuild(settings, database=database),
        )
    finally:
        drop_database(settings.postgres, database)
    database = fresh_database(settings)
    try:
        count, seconds = per_event_faust(settings, database, seconds=20)
        per_event = Rate(f"{label} plain per-event faust agent, same fold", count, seconds)
    finally:
        drop_database(settings.postgres, database)
    return [baseline, replay, per_event]


def copy_out_facts(conn: psycopg.Connection, tenant: str) -> int:
    """The tick's baseline: ``COPY … TO STDOUT`` of every fact row the tick reads (bytes)."""
    size = 0
    for table in TICK_INPUTS:
        query = f"copy (select * from readmodel.{table.name} where tenant_id = %s) to stdout"
        with conn.cursor().copy(query, [tenant]) as copy:
            size += sum(len(block) for block in copy)
    return size


def recompute_at(learners: int) -> list[Rate]:
    """One tick for a tenant of ``learners`` enrolled learners with a week of history, beside
    reading the same facts out with COPY; the tick is the log's last record, applied alone."""
    settings = isolated_settings()
    tick = cloud_event("engagement.recompute_requested", {"day": "2026-11-27"}, tenant="big")
    write_log(settings, [*history(Shape(tenant="big", learners=learners, days=7, ticks=False)), tick])
    messages = [
        LogMessage.parse(m.partition(), m.offset(), m.value())
        for m in read_to_end(settings.kafka, topic_name(settings.kafka, "log"))
    ]
    database = fresh_database(settings)
    try:
        with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
            ensure_schema(conn)
            writer = ReadModelWriter(conn, "log", publish=False, contiguous=True)
            for start in range(0, len(messages) - 1, 5000):
                writer.apply(messages[start : min(start + 5000, len(messages) - 1)])
            baseline = timed(
                f"COPY TO STDOUT of the tick's facts, {learners:,} learners",
                learners,
                lambda: copy_out_facts(conn, "big"),
            )
            rate = timed(
                f"recompute tick, {learners:,} enrolled learners", learners, lambda: writer.apply(messages[-1:])
            )
            rows = conn.execute(
                "select count(*) from readmodel.daily_scores where day = %s", [date(2026, 11, 27)]
            ).fetchone()[0]
            assert rows == learners, rows
        return [baseline, rate]
    finally:
        drop_database(settings.postgres, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--tick-only", action="store_true", help="only the recompute tick")
    args = parser.parse_args()
    for scale in [] if args.tick_only else args.scale:
        baseline, *rates = replay_at(scale)
        print(report(rates, baseline))
        print()
    for scale in args.scale:
        baseline, tick = recompute_at(int(100_000 * scale))
        print(
            f"{tick.name}: {tick.seconds:.2f} s; {baseline.name}: {baseline.seconds:.2f} s; "
            f"tick ÷ COPY = {tick.seconds / baseline.seconds:.1f}"
        )


if __name__ == "__main__":
    main()
