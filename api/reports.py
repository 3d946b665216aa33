"""``GET /v1/reports/engagement``: the one reports endpoint, JSON or CSV from one query."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from api.auth import Principal
from api.csv_writer import CsvWriter
from api.db import PoolDep
from api.deps import Reader
from api.problems import Problem, problem_responses
from api.scope import require_report_role, scope_predicate
from projections.database import scalar
from projections.figures import (
    COUNT_NAMES,
    FIGURE_COUNTS,
    FIGURES,
    change,
    exact_figures,
    relative_change,
    rounded,
)
from projections.runner import READ_MODEL_SCHEMA
from schemas.types import ID_PATTERN

router = APIRouter(tags=["reports"], responses=problem_responses(401, 403, 404, 409, 422))
RM = sql.Identifier(READ_MODEL_SCHEMA)
CSV_CAPABILITY = "exports.csv"
# A platform_admin's CSV leaves out the tenants whose exports.csv is off and names them here.
EXCLUDED_HEADER = "SkillMind-Excluded-Tenants"


class GroupBy(StrEnum):
    learner = "learner"
    cohort = "cohort"
    program = "program"
    tenant = "tenant"


class Format(StrEnum):
    json = "json"
    csv = "csv"


LEARNER_COLUMNS = (
    "tenant_id",
    "learner_id",
    "display_name",
    "cohort_id",
    "program_id",
    "score",
    "signin",
    "attendance",
    "progress",
    "submissions",
    "at_risk",
    "active_7d",
    "completed",
)
GROUP_COLUMNS = (
    "tenant_id",
    "group_id",
    "learners",
    "engagement",
    "weekly_active",
    "completion_rate",
    "at_risk",
)
# Columns that are ``numeric`` in SQL (exact in CSV) and numbers in JSON.
NUMERIC_COLUMNS = frozenset({"signin", "attendance", "progress", "submissions", "completion_rate"})


class Tile(BaseModel):
    value: float | None = Field(description="The figure on `day`.")
    change: float | None = Field(description="Week-over-week change (value on day − value on day−7).")
    relative_change: float | None = Field(
        default=None,
        description="Week-over-week change relative to day−7 (change ÷ value on day−7); null when that is 0 or null.",
    )


class Tiles(BaseModel):
    engagement: Tile
    weekly_active: Tile
    completion_rate: Tile
    at_risk: Tile


class SeriesPoint(BaseModel):
    day: date
    engagement: float | None
    target: int


class EngagementReport(BaseModel):
    day: date | None
    group_by: GroupBy
    computed_at: datetime | None
    tiles: Tiles
    series: list[SeriesPoint]
    rows: list[dict[str, Any]]


def capability_on(capability: str, alias: str = "s") -> sql.Composable:
    """The row's tenant has ``capability`` on (a flag never set is on). Flags belong to the
    tenant whose data is read, whoever asks: this is applied per row, in the query."""
    return sql.SQL(
        "not exists (select 1 from {rm}.tenant_capabilities c where c.tenant_id = {a}.tenant_id "
        "and c.capability = {cap} and not c.enabled)"
    ).format(rm=RM, a=sql.Identifier(alias), cap=sql.Literal(capability))


def _filters(
    program_id: str | None, cohort_id: str | None, capability: str | None = None
) -> tuple[sql.Composable, dict[str, Any]]:
    parts: list[sql.Composable] = [sql.SQL("true")]
    params: dict[str, Any] = {}
    if capability:
        parts.append(capability_on(capability))
    if program_id:
        parts.append(sql.SQL("s.program_id = %(program_id)s"))
        params["program_id"] = program_id
    if cohort_id:
        parts.append(sql.SQL("s.cohort_id = %(cohort_id)s"))
        params["cohort_id"] = cohort_id
    return sql.SQL(" and ").join(parts), params


def rows_query(
    principal: Principal,
    day: date,
    group_by: GroupBy,
    program_id: str | None,
    cohort_id: str | None,
    capability: str | None = None,
) -> tuple[sql.Composed, dict[str, Any]]:
    """The report's rows: the one query behind both the JSON and the CSV answer; an export
    names its ``capability`` and keeps only the rows of tenants that have it on."""
    scope, params = scope_predicate(principal)
    filters, filter_params = _filters(program_id, cohort_id, capability)
    params = {**params, **filter_params, "day": day}
    where = sql.SQL("s.day = %(day)s and {scope} and {filters}").format(scope=scope, filters=filters)
    if group_by is not GroupBy.learner and _whole_tenant(principal) and not (program_id or cohort_id):
        return _stored_group_rows(group_by, capability), {**params, "day": day}
    if group_by is GroupBy.learner:
        query = sql.SQL(
            "select s.tenant_id, s.learner_id, u.display_name, s.cohort_id, s.program_id, s.score, "
            "s.signin, s.attendance, s.progress, s.submissions, s.at_risk, s.active_7d, s.completed "
            "from {rm}.daily_scores s left join {rm}.users u "
            "on u.tenant_id = s.tenant_id and u.user_id = s.learner_id "
            "where {where} order by s.tenant_id, s.learner_id"
        ).format(rm=RM, where=where)
    else:
        column = {"cohort": "cohort_id", "program": "program_id", "tenant": "tenant_id"}[group_by.value]
        query = sql.SQL(
            "select s.tenant_id, s.{col} as group_id, {figures} from {rm}.daily_scores s "
            "where {where} group by s.tenant_id, s.{col} order by 1, 2"
        ).format(col=sql.Identifier(column), figures=FIGURES, rm=RM, where=where)
    return query, params


def _whole_tenant(principal: Principal) -> bool:
    """The caller sees every learner of exactly one tenant: its figures are stored by the tick."""
    return principal.has("company_admin") and not principal.has("platform_admin")


def _stored_group_rows(group_by: GroupBy, capability: str | None) -> sql.Composed:
    """Group rows of the caller's tenant from ``scope_figures`` (an indexed lookup); the
    completion rate rounded by figures.py's rule, in SQL."""
    on = capability_on(capability, "f") if capability else sql.SQL("true")
    return sql.SQL(
        "select f.tenant_id, nullif(f.scope_id, '') as group_id, f.learners, "
        "f.median_x2::float8 / 2 as engagement, f.weekly_active, "
        "round(f.completed::numeric / f.learners, 4) as completion_rate, f.at_risk "
        "from {rm}.scope_figures f where f.tenant_id = %(scope_tenant)s and f.day = %(day)s "
        "and f.scope = {scope} and f.learners > 0 and {on} order by 1, 2"
    ).format(rm=RM, scope=sql.Literal(group_by.value), on=on)


def latest_day(conn: Any, principal: Principal) -> date | None:
    scope, params = scope_predicate(principal)
    query = sql.SQL("select max(s.day) from {rm}.daily_scores s where {scope}").format(rm=RM, scope=scope)
    return cast(date | None, scalar(conn, query, params))


def _figures_by_day(
    conn: Any, principal: Principal, days: list[date], program_id: str | None, cohort_id: str | None
) -> dict[date, dict[str, Any]]:
    """Exact counts (figures.COUNT_NAMES) and ``computed_at`` per day of the caller's scope:
    looked up in ``scope_figures`` for one tenant's tenant/program/cohort, else counted live."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in COUNT_NAMES)
    if _whole_tenant(principal) and not (program_id and cohort_id):
        scope, scope_id = ("cohort", cohort_id) if cohort_id else ("program", program_id or "")
        scope = scope if cohort_id or program_id else "tenant"
        query = sql.SQL(
            "select day, {columns}, computed_at from {rm}.scope_figures where tenant_id = %(tenant)s "
            "and day = any(%(days)s) and scope = %(scope)s and scope_id = %(scope_id)s and learners > 0"
        ).format(columns=columns, rm=RM)
        params: dict[str, Any] = {"tenant": principal.tenant_id, "days": days, "scope": scope, "scope_id": scope_id}
    else:
        predicate, params = scope_predicate(principal)
        filters, filter_params = _filters(program_id, cohort_id)
        query = sql.SQL(
            "select s.day, {counts}, max(s.computed_at) as computed_at from {rm}.daily_scores s "
            "where s.day = any(%(days)s) and {scope} and {filters} group by s.day"
        ).format(counts=FIGURE_COUNTS, rm=RM, scope=predicate, filters=filters)
        params = {**params, **filter_params, "days": days}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return {row.pop("day"): {**exact_figures(row), "computed_at": row["computed_at"]} for row in rows}


def _target(conn: Any, principal: Principal) -> int:
    row = conn.execute(
        sql.SQL("select target from {rm}.tenant_settings where tenant_id = %s").format(rm=RM),
        [principal.tenant_id],
    ).fetchone()
    return row[0] if row and row[0] is not None else 75


def _tile(now: dict[str, Any] | None, before: dict[str, Any] | None, name: str) -> Tile:
    """A figure and its week-over-week change, each rounded once from exact values."""
    value = now[name] if now else None
    previous = before[name] if before else None
    return Tile(value=rounded(value), change=change(value, previous), relative_change=relative_change(value, previous))


def require_known(conn: Any, principal: Principal, table: str, column: str, value: str | None) -> None:
    """404 unless ``value`` names a row of ``table`` in the caller's tenant (any tenant for a
    platform_admin): unknown and another tenant's get the same answer, so existence is not revealed."""
    if value is None:
        return
    tenant = sql.SQL("true") if principal.has("platform_admin") else sql.SQL("tenant_id = %(tenant)s")
    query = sql.SQL("select exists (select 1 from {rm}.{t} where {c} = %(value)s and {tenant})").format(
        rm=RM, t=sql.Identifier(table), c=sql.Identifier(column), tenant=tenant
    )
    if not conn.execute(query, {"value": value, "tenant": principal.tenant_id}).fetchone()[0]:
        raise Problem(404, "Not found", f"{column} {value!r} not found")


def tenants_without(conn: Any, principal: Principal, capability: str) -> list[str]:
    """Tenants in the caller's reach whose ``capability`` is off (their rows are left out)."""
    tenants = sql.SQL("true") if principal.has("platform_admin") else sql.SQL("t.tenant_id = %(tenant)s")
    query = sql.SQL("select t.tenant_id from {rm}.tenants t where {tenants} and not {on} order by 1").format(
        rm=RM, tenants=tenants, on=capability_on(capability, "t")
    )
    return [row[0] for row in conn.execute(query, {"tenant": principal.tenant_id})]


def stream_csv(pool: Any, query: sql.Composed, params: dict[str, Any], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV lines from a server-side cursor: constant memory for any number of rows."""
    writer = CsvWriter()
    with pool.connection() as conn, conn.transaction(), conn.cursor(name="report_csv") as cur:
        cur.itersize = 5000
        cur.execute(query, params)
        yield writer.rows([columns])
        while rows := cur.fetchmany(5000):
            yield writer.rows(rows)


@router.get(
    "/v1/reports/engagement",
    response_model=EngagementReport,
    summary="Engagement report for the caller's scope (JSON or CSV)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def engagement_report(
    principal: Reader,
    pool: PoolDep,
    day: Annotated[date | None, Query(description="Default: the latest computed day.")] = None,
    group_by: GroupBy = GroupBy.learner,
    program_id: Annotated[str | None, Query(max_length=128, pattern=ID_PATTERN)] = None,
    cohort_id: Annotated[str | None, Query(max_length=128, pattern=ID_PATTERN)] = None,
    weeks: Annotated[int, Query(ge=1, le=52, description="Length of the weekly series.")] = 8,
    format: Format = Format.json,
) -> Any:
    """Rows for the caller's scope (learners, or figures per cohort/program/tenant), the tiles
    with their week-over-week change, and the weekly engagement series against the target.
    ``format=csv`` streams the same rows from the same query."""
    require_report_role(principal)
    with pool.connection() as conn:
        require_known(conn, principal, "programs", "program_id", program_id)
        require_known(conn, principal, "cohorts", "cohort_id", cohort_id)
        excluded = tenants_without(conn, principal, CSV_CAPABILITY) if format is Format.csv else []
        if principal.tenant_id in excluded and not principal.has("platform_admin"):
            raise Problem(
                403,
                "Capability disabled",
                "CSV export is switched off for your tenant "
                "(capability exports.csv); charts and JSON reports stay available",
                capability=CSV_CAPABILITY,
                rule="capability_disabled",
            )
        day = day or latest_day(conn, principal)
        if format is Format.csv:
            if day is None:
                day = date.min
            query, params = rows_query(principal, day, group_by, program_id, cohort_id, CSV_CAPABILITY)
            columns = LEARNER_COLUMNS if group_by is GroupBy.learner else GROUP_COLUMNS
            headers = {"Content-Disposition": f'attachment; filename="engagement-{day}.csv"'}
            if excluded:
                headers[EXCLUDED_HEADER] = ",".join(excluded)
            return StreamingResponse(stream_csv(pool, query, params, columns), media_type="text/csv", headers=headers)
        report = build_report(conn, principal, day, group_by, program_id, cohort_id, weeks)
    return Response(report_json(report), media_type="application/json")


def report_json(report: EngagementReport) -> bytes:
    """The JSON answer, serialised once: the few typed parts by the response model (its date
    and time formats), the rows — plain str/int/float/bool/None (``json_rows``) — by orjson,
    without re-validating thousands of rows against the model."""
    head = report.model_dump(mode="json", exclude={"rows"})
    return orjson.dumps({**head, "rows": report.rows})


def json_rows(query: sql.Composable, group_by: GroupBy) -> sql.Composed:
    """``rows_query`` as the JSON answer reads it: the same rows and columns, the exact
    ``numeric`` figures as ``float8`` (JSON numbers, the same values ``float()`` gives)."""
    columns = LEARNER_COLUMNS if group_by is GroupBy.learner else GROUP_COLUMNS
    select = sql.SQL(", ").join(
        sql.SQL("r.{c}::float8 as {c}" if c in NUMERIC_COLUMNS else "r.{c}").format(c=sql.Identifier(c))
        for c in columns
    )
    return sql.SQL("select {} from ({}) r").format(select, query)


def build_report(
    conn: Any,
    principal: Principal,
    day: date | None,
    group_by: GroupBy,
    program_id: str | None,
    cohort_id: str | None,
    weeks: int,
    *,
    with_rows: bool = True,
) -> EngagementReport:
    """The JSON report — rows (``rows_query``), tiles and series — for the endpoint and the
    PDF export alike (``with_rows=False`` when the caller streams the rows itself)."""
    if day is None:
        empty = Tile(value=None, change=None)
        return EngagementReport(
            day=None,
            group_by=group_by,
            computed_at=None,
            rows=[],
            series=[],
            tiles=Tiles(engagement=empty, weekly_active=empty, completion_rate=empty, at_risk=empty),
        )
    rows: list[dict[str, Any]] = []
    if with_rows:
        query, params = rows_query(principal, day, group_by, program_id, cohort_id)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(json_rows(query, group_by), params).fetchall()
    # Weeks before the first representable day (0001-01-01) simply have no point.
    days = [day - timedelta(weeks=n) for n in range(max(weeks, 2)) if day.toordinal() > 7 * n]
    figures = _figures_by_day(conn, principal, days, program_id, cohort_id)
    target = _target(conn, principal)
    now, before = figures.get(day), (figures.get(day - timedelta(weeks=1)) if day.toordinal() > 7 else None)
    return EngagementReport.model_construct(
        day=day,
        group_by=group_by,
        computed_at=now["computed_at"] if now else None,
        rows=rows,
        tiles=Tiles(
            **{name: _tile(now, before, name) for name in ("engagement", "weekly_active", "completion_rate", "at_risk")}
        ),
        series=[
            SeriesPoint(day=d, engagement=rounded(figures[d]["engagement"]) if d in figures else None, target=target)
            for d in sorted(days[:weeks])
        ],
    )
