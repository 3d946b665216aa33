"""Liveness, readiness and the overview tiles."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from psycopg import sql
from pydantic import BaseModel

from api.db import PoolDep
from api.deps import CurrentPrincipal, SettingsDep
from api.problems import problem_responses
from api.reports import RM, latest_day
from api.scope import scope_predicate
from events.kafka import consumer_config
from events.reader import partitions_of
from events.topics import topic_name
from jobs.objectstore import make_client
from projections.figures import FIGURES
from skillmind.settings import Settings

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _projection_lag(settings: Settings, pool: Any) -> int:
    topic = topic_name(settings.kafka, "log")
    with pool.connection() as conn:
        stored = dict(
            conn.execute(
                sql.SQL("select partition, next_offset from {rm}.positions where topic = %s").format(rm=RM),
                [topic],
            ).fetchall()
        )
    consumer = Consumer(consumer_config(settings.kafka))
    try:
        lag = 0
        for p in partitions_of(settings.kafka, topic):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=3)
            lag += max(0, high - stored.get(p, 0))
        return lag
    finally:
        consumer.close()


def _readiness(settings: Settings, pool: Any) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        with pool.connection(timeout=3) as conn:
            conn.execute("select 1")
        checks["postgres"] = "ok"
    except Exception as err:
        checks["postgres"] = f"unreachable: {err}"
    try:
        partitions_of(settings.kafka, topic_name(settings.kafka, "log"), timeout_s=3)
        checks["kafka"] = "ok"
    except Exception as err:
        checks["kafka"] = f"unreachable: {err}"
    try:
        make_client(settings.s3, fail_fast=True).bucket_exists(settings.s3.exports_bucket)
        checks["s3"] = "ok"
    except Exception as err:
        checks["s3"] = f"unreachable: {err}"
    if checks["postgres"] == checks["kafka"] == "ok":
        try:
            checks["projection_lag"] = _projection_lag(settings, pool)
        except (KafkaException, Exception) as err:
            checks["projection_lag"] = f"unknown: {err}"
    return checks


@router.get(
    "/readyz",
    responses={503: {"description": "Not ready: the failing checks say why"}},
    summary="Kafka, PostgreSQL and S3 reachable; projections' lag in log offsets (transaction markers included)",
)
async def readyz(settings: SettingsDep, pool: PoolDep) -> JSONResponse:
    checks = await run_in_threadpool(_readiness, settings, pool)
    ready = all(checks[k] == "ok" for k in ("postgres", "kafka", "s3"))
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


class Overview(BaseModel):
    programs_tracked: int
    median_engagement: float | None
    reports_generated_30d: int
    audit_events: int


@router.get(
    "/v1/overview",
    responses=problem_responses(401),
    response_model=Overview,
    tags=["reports"],
    summary="The overview tiles for the caller's scope",
)
def overview(principal: CurrentPrincipal, pool: PoolDep) -> Overview:
    """Programs with learners in your scope, their median engagement on the latest computed
    day, reports generated in the last 30 days (`export.completed` events) and the mutations
    in your tenant's audit log."""
    scope, params = scope_predicate(principal)
    with pool.connection() as conn:
        day = latest_day(conn, principal)
        row = conn.execute(
            sql.SQL(
                "select count(distinct s.program_id), {figures} from {rm}.daily_scores s "
                "where s.day = %(day)s and {scope}"
            ).format(figures=FIGURES, rm=RM, scope=scope),
            {**params, "day": day},
        ).fetchone()
        audit, exports = conn.execute(
            sql.SQL(
                "select coalesce(sum(count) filter (where kind = 'mutation'), 0), "
                "coalesce(sum(count) filter (where type = 'export.completed' and day > current_date - 30), 0) "
                "from {rm}.event_days where tenant_id = %s"
            ).format(rm=RM),
            [principal.tenant_id],
        ).fetchone()
    return Overview(
        programs_tracked=row[0] or 0,
        median_engagement=row[2],
        reports_generated_30d=exports,
        audit_events=audit,
    )
