"""The nightly recompute tick: one ``engagement.recompute_requested`` per tenant per day.

Exactly one tick per (tenant, day), whatever runs twice:
- the tick's event id is derived from the day, so a second append of it is a duplicate
  the sequencer drops;
- a PostgreSQL advisory lock lets one scheduler at a time do the work, and
  ``recompute_ticks`` remembers what was appended, so restarts do not append again;
- on start, days missed while no scheduler ran are appended (at most ``catch_up_days``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from events.inbox import InboxWriter
from jobs.checkpoints import append_checkpoints
from projections.database import scalar
from projections.runner import READ_MODEL_SCHEMA, schema_exists
from schemas.examples import cloud_event
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
SCHEDULER_LOCK = 0x5C11_71C  # one advisory lock shared by every scheduler process


def tick_event(tenant: str, day: date, *, manual: bool = False, at: datetime | None = None) -> dict[str, Any]:
    now = at or datetime.now(UTC)
    event_id = f"recompute:{day}" + (f":manual:{now:%Y%m%dT%H%M%S%f}" if manual else "")
    return cloud_event(
        "engagement.recompute_requested",
        {"day": day.isoformat()},
        tenant=tenant,
        event_id=event_id,
        time=now,
        source="/skillmind/scheduler",
        actor="scheduler",
    )


def known_tenants(settings: Settings, database: str | None = None) -> list[str]:
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        if not schema_exists(conn, READ_MODEL_SCHEMA):
            return []
        return [r[0] for r in conn.execute(f"select tenant_id from {READ_MODEL_SCHEMA}.tenants order by 1")]


def append_ticks(settings: Settings, day: date, tenants: list[str], *, manual: bool = False) -> int:
    writer = InboxWriter(settings.kafka)
    try:
        writer.append([tick_event(t, day, manual=manual) for t in tenants])
    finally:
        writer.close()
    return len(tenants)


def scheduled_ticks(settings: Settings, days: list[date], database: str | None = None) -> int:
    """Append the missing ticks for ``days``; 0 if another scheduler holds the lock."""
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        if not scalar(conn, "select pg_try_advisory_lock(%s)", [SCHEDULER_LOCK]):
            log.info("scheduler.skipped", reason="another scheduler holds the lock")
            return 0
        try:
            tenants = known_tenants(settings, database)
            appended = 0
            for day in days:
                done = {r[0] for r in conn.execute("select tenant_id from recompute_ticks where day = %s", [day])}
                due = [t for t in tenants if t not in done]
                if due:
                    append_ticks(settings, day, due)
                    conn.cursor().executemany(
                        "insert into recompute_ticks (tenant_id, day) values (%s, %s) on conflict do nothing",
                        [(t, day) for t in due],
                    )
                    appended += len(due)
                    log.info("scheduler.ticks_appended", day=str(day), tenants=len(due))
            return appended
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [SCHEDULER_LOCK])


def days_to_catch_up(settings: Settings, today: date, database: str | None = None) -> list[date]:
    """Yesterday, and every earlier day since the last tick, at most ``catch_up_days``."""
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        last = scalar(conn, "select max(day) from recompute_ticks")
    yesterday = today - timedelta(days=1)
    first = max(
        last + timedelta(days=1) if last else yesterday,
        today - timedelta(days=settings.scheduler.catch_up_days),
    )
    return [first + timedelta(days=n) for n in range((yesterday - first).days + 1)]


def run_scheduler(
    settings: Settings,
    stop: threading.Event,
    database: str | None = None,
    on_tick: Callable[[], None] | None = None,
) -> None:
    def nightly() -> None:
        today = datetime.now(UTC).date()
        scheduled_ticks(settings, days_to_catch_up(settings, today, database), database)
        if on_tick:
            on_tick()

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        nightly,
        recompute_trigger(settings),
        id="recompute",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    scheduler.add_job(
        lambda: append_checkpoints(settings, database),
        checkpoint_trigger(settings),
        id="audit-checkpoint",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    _export_beats(scheduler, settings, database)
    _archive_beats(scheduler, settings, database)
    nightly()  # catch up on start: days missed while no scheduler ran
    scheduler.start()
    log.info("scheduler.running", next=str(scheduler.get_job("recompute").next_run_time))
    stop.wait()
    scheduler.shutdown(wait=True)


def _export_beats(scheduler: BackgroundScheduler, settings: Settings, database: str | None) -> None:
    """Expire exports past their TTL; reconcile the bucket with the records (``jobs.expiry``)."""
    from jobs.expiry import expire_exports, reconcile_exports

    def guarded(task: Callable[..., object]) -> Callable[[], None]:
        def run() -> None:
            try:
                task(settings, database)
            except (psycopg.Error, OSError) as err:  # retried at the next beat; the log says why
                log.warning("scheduler.task_failed", task=task.__name__, error=str(err))

        return run

    every = settings.exports
    scheduler.add_job(guarded(expire_exports), "interval", seconds=every.expiry_every_s, id="expire-exports")
    scheduler.add_job(guarded(reconcile_exports), "interval", seconds=every.reconcile_every_s, id="reconcile-exports")


def _archive_beats(scheduler: BackgroundScheduler, settings: Settings, database: str | None) -> None:
    """The daily read-model snapshot as Parquet (``jobs.snapshot``); idempotent by day."""
    from jobs.snapshot import take_snapshot

    def snapshot() -> None:
        try:
            take_snapshot(settings, database=database)
        except (psycopg.Error, OSError) as err:  # retried the next day or by hand; the log says why
            log.warning("scheduler.task_failed", task="snapshot", error=str(err))

    at = CronTrigger(hour=settings.archive.snapshot_hour, minute=settings.archive.snapshot_minute, timezone=UTC)
    scheduler.add_job(snapshot, at, id="snapshot", max_instances=1, coalesce=True, misfire_grace_time=3600)
    scheduler.add_job(_retention_beat(settings, database), CronTrigger(minute=5, timezone=UTC), id="retention")
    scheduler.add_job(_erasure_beat(settings, database), CronTrigger(minute=35, timezone=UTC), id="erasure")


def _erasure_beat(settings: Settings, database: str | None) -> Callable[[], None]:
    """Every hour at :35, redact archived plaintext records that erasure receipts name (``jobs.erasure``)."""
    from jobs.erasure import redact_erased

    def run() -> None:
        try:
            redact_erased(settings, database=database)
        except (psycopg.Error, OSError) as err:  # retried at the next hour; the log says why
            log.warning("scheduler.task_failed", task="erasure", error=str(err))

    return run


def _retention_beat(settings: Settings, database: str | None) -> Callable[[], None]:
    """Every hour at :05, purge each tenant whose cadence and hour say now (``jobs.retention``)."""
    from jobs.retention import beat

    def run() -> None:
        try:
            beat(settings, database=database)
        except (psycopg.Error, OSError) as err:  # retried at the next hour; the log says why
            log.warning("scheduler.task_failed", task="retention", error=str(err))

    return run


def recompute_trigger(settings: Settings) -> CronTrigger:
    return CronTrigger(hour=settings.scheduler.recompute_hour, minute=settings.scheduler.recompute_minute, timezone=UTC)


def checkpoint_trigger(settings: Settings) -> CronTrigger:
    """When signed chain checkpoints are appended (``SKILLMIND_AUDIT__CHECKPOINT_*``, UTC)."""
    audit = settings.audit
    return CronTrigger(
        day=f"*/{audit.checkpoint_every_days}", hour=audit.checkpoint_hour, minute=audit.checkpoint_minute, timezone=UTC
    )
