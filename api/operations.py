"""Liveness, readiness and the overview tiles."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
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
from events.reader import partitions_of
from events.topics import topic_name
from jobs.objectstore import make_client
from projections.database import scalar
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


def _readiness(settings: Settings, pool: Any, tail: Any = None) -> dict[str, Any]:
    checks: dict[str, Any] = _service_checks(settings, pool)
    if tail is not None:  # this replica's own log tail: positions and duplicate answers need it
        checks["log_tail"] = tail.problem() or "ok"
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
async def readyz(request: Request, settings: SettingsDep, pool: PoolDep) -> JSONResponse:
    """`ready`, `failing` (names), `postgres`/`kafka`/`s3`, `components` (each `ok` or what is
    wrong: no heartbeat, restarting after a failure, stalled), `lag` in offsets (`inbox`
    not yet sequenced, `log` not yet folded, `total`), `quarantined` (records the fold set
    aside: `skillmind quarantine list`), `log_tail` (this replica's tail of the log, which
    write positions and duplicate answers need). 503 unless everything is ok."""
    report = await run_in_threadpool(_readiness, settings, pool, getattr(request.app.state, "logtail", None))
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


class Overview(BaseModel):
    tenant_id: str = Field(description="The one tenant these figures are about: your token's.")
    day: date | None = Field(description="The latest computed day in your scope; the figures' reference day.")
    programs_tracked: int
    median_engagement: float | None
    reports_generated_30d: int = Field(
        description="`export.completed` events appended in the 30 days ending on the tenant's latest append day."
    )
    audit_events: int = Field(description="Records in the tenant's audit trail (its whole log).")


def _latest_day(conn: Any, principal: Principal) -> date | None:
    """The latest computed day in the caller's scope within its tenant, else the tenant's latest event day."""
    scope, params = scope_predicate(principal)
    day: date | None = scalar(
        conn,
        sql.SQL(
            "select coalesce((select max(s.day) from {rm}.daily_scores s "
            "where s.tenant_id = %(tenant)s and {scope}), "
            "(select max(day) from {rm}.event_days where tenant_id = %(tenant)s))"
        ).format(rm=RM, scope=scope),
        {**params, "tenant": principal.tenant_id},
    )
    return day


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
    # Dated by the log: the 30 days end on the tenant's latest append day (an export finished
    # today counts today); the audit trail is every record of the tenant's log.
    audit, exports = conn.execute(
        sql.SQL(
            "with t as (select * from {rm}.event_days where tenant_id = %(tenant)s), "
            "last as (select max(day) as day from t) "
            "select coalesce(sum(count), 0), coalesce(sum(count) filter (where type = 'export.completed' "
            "and t.day > last.day - 30), 0) from t, last"
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
