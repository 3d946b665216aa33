"""Is the pipeline serving fresh data? One answer for ``GET /readyz`` and ``skillmind health``.

Ready means: PostgreSQL, Kafka and S3 answer, and every required component (settings
``api.ready_components``) has a live instance that is running, beating and — when it has
work waiting — making progress. The lag counts the whole path in log offsets: inbox
records the sequencer has not committed, plus log records the projections have not
applied. Transaction markers occupy offsets too, so an idle pipeline shows up to one
offset per partition and stage; that much is never called a stall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql

from events.kafka import consumer_config
from events.reader import partitions_of
from events.topics import topic_name
from projections.database import scalar
from skillmind.settings import Settings

FORGET_DEAD_AFTER_S = 300.0
STAGE_OF = {"sequencer": "inbox", "projections": "log"}  # which lag each component works off


@dataclass(frozen=True)
class InstanceRow:
    """A row of ``component_status`` with its ages in seconds at the time of the check."""

    component: str
    instance: str
    state: str
    restarts: int
    last_error: str | None
    beat_age_s: float
    running_for_s: float
    progress_age_s: float | None


def component_problems(
    rows: Iterable[InstanceRow],
    required: Iterable[str],
    lags: Mapping[str, int],
    *,
    partitions: int,
    stale_s: float,
    stall_s: float,
    max_lag: int | None = None,
) -> dict[str, str]:
    """``{component: "ok" | what is wrong}`` for each required component (pure). A component
    more than ``max_lag`` offsets behind is not ready either, however well it progresses:
    until it catches up the product does not serve fresh data."""
    live: dict[str, list[InstanceRow]] = {}
    for row in rows:
        if row.state != "stopped":
            live.setdefault(row.component, []).append(row)
    report = {}
    for component in required:
        lag = lags.get(STAGE_OF.get(component, ""), 0)
        rows = live.get(component, [])
        healthy = [r for r in rows if _instance_problem(r, lag, partitions, stale_s, stall_s) is None]
        if healthy:
            # A peer took over: an instance dead for long (scaled down, or killed and never
            # restarted under its id) no longer makes the service unready; a recent death does.
            rows = [r for r in rows if r.beat_age_s <= FORGET_DEAD_AFTER_S]
        problems = [problem for row in rows if (problem := _instance_problem(row, lag, partitions, stale_s, stall_s))]
        if not live.get(component):
            problems.append("not running: no live instance has reported")
        elif max_lag is not None and lag > max_lag and not problems:
            problems.append(f"catching up: {lag} offsets behind (ready again at {max_lag} or fewer)")
        report[component] = "; ".join(problems) or "ok"
    return report


def _instance_problem(row: InstanceRow, lag: int, partitions: int, stale_s: float, stall_s: float) -> str | None:
    who = f"instance {row.instance}"
    if row.beat_age_s > stale_s:
        return f"{who}: no heartbeat for {row.beat_age_s:.0f} s (its process is gone or hung)"
    if row.state == "restarting":
        return f"{who}: failed, restarting ({row.restarts} restarts so far): {row.last_error}"
    idle_for = row.progress_age_s if row.progress_age_s is not None else row.running_for_s
    if lag > partitions and idle_for > stall_s and row.running_for_s > stall_s:
        return f"{who}: stalled, {lag} offsets waiting and no progress for {idle_for:.0f} s"
    return None


def instance_rows(conn: psycopg.Connection, now: datetime) -> list[InstanceRow]:
    rows = conn.execute(
        "select component, instance, state, restarts, last_error, beat_at, started_at, progressed_at "
        "from component_status"
    ).fetchall()
    return [
        InstanceRow(
            c,
            i,
            state,
            restarts,
            error,
            (now - beat).total_seconds(),
            (now - started).total_seconds(),
            (now - progressed).total_seconds() if progressed else None,
        )
        for c, i, state, restarts, error, beat, started, progressed in rows
    ]


def pipeline_lag(settings: Settings, conn: psycopg.Connection) -> dict[str, int]:
    """Offsets not yet handled: ``inbox`` (by the sequencer group) and ``log`` (by the read models)."""
    kafka = settings.kafka
    inbox, log_topic = topic_name(kafka, "inbox"), topic_name(kafka, "log")
    stored: dict[int, int] = (
        dict(
            conn.execute(
                sql.SQL("select partition, next_offset from {} where topic = %s").format(
                    sql.Identifier("readmodel", "positions")
                ),
                [log_topic],
            ).fetchall()
        )
        if _read_models_exist(conn)
        else {}  # not built yet: the whole log is waiting
    )
    consumer = Consumer(consumer_config(kafka, f"{kafka.topic_prefix}.sequencer"))
    try:
        parts = [TopicPartition(inbox, p) for p in partitions_of(kafka, inbox, timeout_s=3)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=5)}
        lags = {"inbox": 0, "log": 0}
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=3)
            lags["inbox"] += max(0, high - max(committed.get(tp.partition, -1), low))
        for p in partitions_of(kafka, log_topic, timeout_s=3):
            _, high = consumer.get_watermark_offsets(TopicPartition(log_topic, p), timeout=3)
            lags["log"] += max(0, high - stored.get(p, 0))
        return lags
    finally:
        consumer.close()


def _read_models_exist(conn: psycopg.Connection) -> bool:
    return bool(scalar(conn, "select to_regclass('readmodel.quarantine') is not null"))


def quarantined(conn: psycopg.Connection) -> int:
    if not _read_models_exist(conn):
        return 0
    return int(scalar(conn, "select count(*) from readmodel.quarantine"))


def pipeline_report(settings: Settings, conn: psycopg.Connection) -> dict[str, Any]:
    """Components, lag and quarantine count; raises psycopg/Kafka errors to the caller."""
    now = scalar(conn, "select now()")
    lags = pipeline_lag(settings, conn)
    components = component_problems(
        instance_rows(conn, now),
        settings.api.ready_components,
        lags,
        partitions=settings.kafka.partitions,
        stale_s=settings.api.heartbeat_stale_s,
        stall_s=settings.api.stall_s,
        max_lag=settings.api.ready_max_lag,
    )
    return {
        "components": components,
        "lag": {**lags, "total": lags["inbox"] + lags["log"]},
        "quarantined": quarantined(conn),
    }
