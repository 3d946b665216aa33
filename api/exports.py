"""Background exports: request one, list them, follow one, mint its download link.

Requests append ``export.requested`` (the caller as requester, its roles as the scope the
export runs in) and answer 202 at once; the export worker (``jobs/exports.py``) does the
rest. Capability flags are checked here and again when the export runs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from api.audit import AuditExportRequest
from api.auth import Principal
from api.db import PoolDep
from api.deps import CurrentPrincipal, Reader, SettingsDep
from api.exportquery import export_refusal
from api.mutations import WaitParam, append_mutation
from api.problems import Problem, problem_responses
from api.reports import require_known
from api.scope import require_report_role
from jobs.objectstore import make_client
from projections.capabilities import capability_refusal
from schemas.types import Id
from schemas.v1 import ExportFormat, ExportParams
from skillmind.settings import Settings

router = APIRouter(tags=["exports"], responses=problem_responses(401, 403, 404, 409, 422))
ADMINS = ("company_admin", "platform_admin")


class ExportRequest(ExportParams):
    """The reports endpoint's parameters, and the file format."""

    model_config = ConfigDict(extra="forbid")
    format: ExportFormat


class Queued(BaseModel):
    export_id: str
    status: Literal["queued"] = "queued"
    position: int | None = Field(description="The request's position in the tenant's log (read-your-writes).")


class Export(BaseModel):
    export_id: str
    tenant_id: str
    status: Literal["queued", "running", "ready", "failed", "expired"]
    format: str = Field(description="csv, pdf, parquet, or audit (CSV + signed manifest)")
    legal_hold: bool | None = Field(None, description="Stored under S3 legal hold (audit exports touching a hold).")
    params: dict[str, Any]
    requested_by: str
    requested_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    rows: int | None
    size_bytes: int | None
    sha256: str | None
    expires_at: datetime | None
    reason: str | None


class ExportList(BaseModel):
    items: list[Export]


class Link(BaseModel):
    url: str
    expires_at: datetime


@router.post("/v1/exports", status_code=202, response_model=Queued, summary="Request a background export")
async def request_export(
    request: Request, principal: Reader, pool: PoolDep, settings: SettingsDep, body: ExportRequest
) -> Queued:
    """Runs in the background with the reports endpoint's own query, in your scope; 403 naming
    the capability when the export is switched off (or restricted to other roles) for your
    tenant. Follow it with `GET /v1/exports/{id}`; the bell says when it is ready."""
    require_report_role(principal)
    params = ExportParams.model_validate(body.model_dump(exclude={"format"}))
    refusal = await run_in_threadpool(_refusal, pool, principal, body.format, params, settings)
    if refusal:
        capability, reason = refusal
        raise Problem(403, "Capability disabled", reason, capability=capability, rule="capability_disabled")
    export_id = f"exp-{uuid.uuid4().hex[:20]}"
    data = {
        "export_id": export_id,
        "format": body.format,
        "params": params.model_dump(mode="json", exclude_none=True),
        "requested_by": principal.user_id,
        "roles": sorted(principal.roles),
    }
    accepted = await append_mutation(request, principal, principal.tenant_id, "export.requested", data, True)
    return Queued(export_id=export_id, position=accepted.position)


@router.post(
    "/v1/audit/exports",
    status_code=202,
    response_model=Queued,
    summary="Request an audit export: CSV of every record in a range + signed manifest (auditor, platform_admin)",
)
async def request_audit_export(
    request: Request, principal: CurrentPrincipal, pool: PoolDep, body: AuditExportRequest
) -> Queued:
    """Runs in the export pipeline (background, S3, links, notifications) under the
    `audit.export` capability; a range touching a legal hold is stored under S3 legal hold and
    kept while the hold lasts. Check a download offline: `skillmind audit verify-export`."""
    if not principal.has("auditor", "platform_admin"):
        raise Problem(
            403, "Forbidden", "audit exports are for the roles auditor and platform_admin", rule="role_required"
        )
    reason = await run_in_threadpool(_audit_refusal, pool, principal)
    if reason:
        raise Problem(403, "Capability disabled", reason, capability="audit.export", rule="capability_disabled")
    export_id = f"exp-{uuid.uuid4().hex[:20]}"
    data = {
        "export_id": export_id,
        "range": body.model_dump(mode="json", exclude_none=True),
        "requested_by": principal.user_id,
        "roles": sorted(principal.roles),
    }
    accepted = await append_mutation(request, principal, principal.tenant_id, "audit.export_requested", data, True)
    return Queued(export_id=export_id, position=accepted.position)


def _audit_refusal(pool: Any, principal: Principal) -> str | None:
    with pool.connection() as conn:
        return capability_refusal(conn, principal.tenant_id, principal.roles, "audit.export")


def _refusal(pool: Any, principal: Principal, fmt: str, params: ExportParams, settings: Settings) -> Any:
    with pool.connection() as conn:
        require_known(conn, principal, "programs", "program_id", params.program_id)
        require_known(conn, principal, "cohorts", "cohort_id", params.cohort_id)
        return export_refusal(conn, principal, fmt, params, settings.exports.bulk_rows)


def _visible(principal: Principal) -> tuple[str, list[Any]]:
    """Mine; an admin's: the tenant's."""
    if principal.has(*ADMINS):
        return "tenant_id = %s", [principal.tenant_id]
    return "tenant_id = %s and requested_by = %s", [principal.tenant_id, principal.user_id]


_COLUMNS = (
    "export_id, tenant_id, status, format, params::jsonb as params, requested_by, requested_at, started_at, "
    "completed_at, rows, size_bytes, sha256, expires_at, reason, legal_hold"
)


@router.get("/v1/exports", response_model=ExportList, summary="Your exports (an admin's: the tenant's)")
def list_exports(principal: Reader, pool: PoolDep) -> ExportList:
    where, params = _visible(principal)
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"select {_COLUMNS} from readmodel.exports where {where} and status is not null "
            "order by requested_sequence desc limit 200",
            params,
        ).fetchall()
    return ExportList(items=[Export(**row) for row in rows])


def _one(pool: Any, principal: Principal, export_id: str) -> dict[str, Any]:
    where, params = _visible(principal)
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"select {_COLUMNS}, object_key, manifest_key from readmodel.exports where {where} and export_id = %s "
            "and status is not null",
            [*params, export_id],
        ).fetchone()
    if row is None:  # another user's or tenant's export does not exist for you
        raise Problem(404, "Not found", f"export {export_id!r} not found")
    return dict(row)


@router.get("/v1/exports/{export_id}", response_model=Export, summary="One export and its state")
def get_export(principal: Reader, pool: PoolDep, export_id: Annotated[Id, Path()]) -> Export:
    row = _one(pool, principal, export_id)
    return Export(**{k: v for k, v in row.items() if k not in ("object_key", "manifest_key")})


@router.post(
    "/v1/exports/{export_id}/link",
    response_model=Link,
    summary="A presigned download link (every mint is audited)",
)
async def export_link(
    request: Request,
    principal: CurrentPrincipal,
    pool: PoolDep,
    settings: SettingsDep,
    export_id: Annotated[Id, Path()],
    part: Annotated[Literal["file", "manifest"], Query(description="An audit export's signed manifest.")] = "file",
    wait: WaitParam = True,
) -> Link:
    """Valid for `SKILLMIND_EXPORTS__LINK_TTL_S` or the export's time left, whichever is
    shorter; after that the S3 server refuses it. 409 unless the export is ready."""
    row = await run_in_threadpool(_one, pool, principal, export_id)
    if part == "manifest" and not row["manifest_key"]:
        raise Problem(404, "Not found", f"export {export_id!r} has no manifest (only audit exports do)")
    if row["status"] != "ready":
        raise Problem(409, "Not ready", f"export {export_id!r} is {row['status']}", status_of_export=row["status"])
    now = datetime.now(UTC).replace(microsecond=0)
    ttl = min(timedelta(seconds=settings.exports.link_ttl_s), row["expires_at"] - now)
    if ttl < timedelta(seconds=1):
        raise Problem(409, "Expired", f"export {export_id!r} has expired", status_of_export="expired")
    data = {"export_id": export_id, "expires_at": (now + ttl).isoformat().replace("+00:00", "Z")}
    await append_mutation(request, principal, principal.tenant_id, "export.link_issued", data, wait)
    key = row["manifest_key"] if part == "manifest" else row["object_key"]
    url = await run_in_threadpool(_presign, settings, key, ttl)
    return Link(url=url, expires_at=now + ttl)


def _presign(settings: Settings, key: str, ttl: timedelta) -> str:
    s3 = settings.s3
    if settings.exports.public_endpoint:
        s3 = s3.model_copy(update={"endpoint": settings.exports.public_endpoint})
    return make_client(s3).presigned_get_object(settings.s3.exports_bucket, key, expires=ttl)
