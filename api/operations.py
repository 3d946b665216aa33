"""Liveness, readiness and the overview tiles."""

from __future__ import annotations

from typing import Any

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
from events.reader import partitions_of
from events.topics import topic_name
from jobs.objectstore import make_client
from projections.figures import FIGURES
from skillmind.readiness import pipeline_report
from skillmind.settings import Settings

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _service_checks(settings: Settings, pool: Any) -> dict[str, str]:
    checks: dict[str, str] = {}
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
    return checks


def _readiness(settings: Settings, pool: Any) -> dict[str, Any]:
    checks: dict[str, Any] = _service_checks(settings, pool)
    failing = [name for name, state in checks.items() if state != "ok"]
    if not failing or failing == ["s3"]:
        try:
            with pool.connection(timeout=3) as conn:
                report = pipeline_report(settings, conn)
            checks.update(report, projection_lag=report["lag"]["log"])
            failing += [name for name, state in report["components"].items() if state != "ok"]
        except Exception as err:
            checks["components"] = f"unknown: {err}"
            failing.append("components")
    return {"ready": not failing, "failing": failing, **checks}


@router.get(
    "/readyz",
    responses={503: {"description": "Not ready: `failing` names each failed service or component, and why"}},
    summary="Services reachable, every pipeline component alive and progressing; lag and quarantine count",
)
async def readyz(settings: SettingsDep, pool: PoolDep) -> JSONResponse:
    """`ready`, `failing` (names), `postgres`/`kafka`/`s3`, `components` (each `ok` or what is
    wrong: no heartbeat, restarting after a failure, stalled), `lag` in offsets (`inbox`
    not yet sequenced, `log` not yet folded, `total`), `quarantined` (records the fold set
    aside: `skillmind quarantine list`). 503 unless everything is ok."""
    report = await run_in_threadpool(_readiness, settings, pool)
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


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
