"""Liveness, readiness and the overview tiles."""

from __future__ import annotations

from datetime import date
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from psycopg import sql
from pydantic import BaseModel, Field

from api.auth import Principal
from api.db import PoolDep
from api.deps import Reader, SettingsDep
from api.problems import problem_responses
from api.reports import RM
from api.scope import require_report_role, scope_predicate
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
    tenant_id: str = Field(description="The one tenant these figures are about: your token's.")
    day: date | None = Field(description="The latest computed day in your scope; the figures' reference day.")
    programs_tracked: int
    median_engagement: float | None
    reports_generated_30d: int = Field(description="`export.completed` events dated in the 30 days ending on `day`.")
    audit_events: int


def _latest_day(conn: Any, principal: Principal) -> date | None:
    """The latest computed day in the caller's scope within its tenant, else the tenant's latest event day."""
    scope, params = scope_predicate(principal)
    return conn.execute(
        sql.SQL(
            "select coalesce((select max(s.day) from {rm}.daily_scores s "
            "where s.tenant_id = %(tenant)s and {scope}), "
            "(select max(day) from {rm}.event_days where tenant_id = %(tenant)s))"
        ).format(rm=RM, scope=scope),
        {**params, "tenant": principal.tenant_id},
    ).fetchone()[0]


def _overview(conn: Any, principal: Principal) -> Overview:
    scope, params = scope_predicate(principal)
    day = _latest_day(conn, principal)
    params = {**params, "tenant": principal.tenant_id, "day": day}
    programs, _, median, *_ = conn.execute(
        sql.SQL(
            "select count(distinct s.program_id), {figures} from {rm}.daily_scores s "
            "where s.tenant_id = %(tenant)s and s.day = %(day)s and {scope}"
        ).format(figures=FIGURES, rm=RM, scope=scope),
        params,
    ).fetchone()
    audit, exports = conn.execute(
        sql.SQL(
            "select coalesce(sum(count) filter (where kind = 'mutation'), 0), "
            "coalesce(sum(count) filter (where type = 'export.completed' "
            "and day > %(day)s::date - 30 and day <= %(day)s::date), 0) "
            "from {rm}.event_days where tenant_id = %(tenant)s"
        ).format(rm=RM),
        params,
    ).fetchone()
    return Overview(
        tenant_id=principal.tenant_id,
        day=day,
        programs_tracked=programs or 0,
        median_engagement=median,
        reports_generated_30d=exports,
        audit_events=audit,
    )


@router.get(
    "/v1/overview",
    responses=problem_responses(401, 403, 409),
    response_model=Overview,
    tags=["reports"],
    summary="The overview tiles of your tenant, within your scope",
)
def overview(principal: Reader, pool: PoolDep) -> Overview:
    """For your token's tenant (a platform_admin too: one tenant, never a mix): programs
    with learners in your scope and their median engagement on the latest computed day,
    reports generated (`export.completed`) in the 30 days ending on that day — dated by
    the log, never by the database server's clock — and the mutations in the tenant's
    audit log. Needs a reports role (auditor and ingest get 403)."""
    require_report_role(principal)
    with pool.connection() as conn:
        return _overview(conn, principal)
