"""The auditor's API: audit search, legal holds, the signing public key, and the audit
export request (validated here; the export pipeline runs it).

Who: ``auditor`` reads and exports its own tenant, ``platform_admin`` any one tenant per
request; every other role gets 403. Another tenant's data answers nothing (holds: 404).
Holds are placed by an auditor or a company admin, released by their placer or a
company admin; each change is a mutation in the log.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from api import audit_query
from api.audit_export import ExportRange
from api.auth import Principal
from api.db import PoolDep
from api.deps import Reader, SettingsDep
from api.mutations import Accepted, WaitParam, append_mutation
from api.problems import Problem, problem_responses
from events.auditsign import key_id, load_private_key, public_pem
from schemas.registry import event_types
from schemas.types import ID_PATTERN, TEXT_PATTERN, Id, bounded_int, text
from schemas.v1 import LegalHoldPlaced, LegalHoldReleased

router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 404, 409, 422))
AUDIT_READERS = ("auditor", "platform_admin")
HOLD_PLACERS = ("auditor", "company_admin", "platform_admin")
HOLD_ADMINS = ("company_admin", "platform_admin")
MAX_PAGE = 1000

TenantQuery = Annotated[
    str | None,
    Query(
        pattern=ID_PATTERN,
        min_length=1,
        max_length=128,
        description="The tenant to read; only a platform_admin may name another than the token's.",
    ),
]


def _tenant(principal: Principal, roles: tuple[str, ...], requested: str | None) -> str:
    """The one tenant this request is about, after the role check (403) and isolation (404)."""
    if not principal.has(*roles):
        raise Problem(403, "Forbidden", f"this needs one of the roles {', '.join(roles)}", rule="role_required")
    tenant = requested or principal.tenant_id
    if tenant != principal.tenant_id and not principal.has("platform_admin"):
        raise Problem(404, "Not found", f"tenant {tenant!r} not found")
    return tenant


# -- audit search -----------------------------------------------------------------------------

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def query_time(value: object) -> datetime:
    """A time filter: any RFC 3339 date-time (offsets too — it selects, it is not stored),
    as UTC; never epoch seconds or other formats."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-11-27T08:30:00Z")
    date_part, time_part, fraction, offset = match.groups()
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{date_part}T{time_part}{(fraction or '')[:7]}{offset}")
    except ValueError as err:
        raise ValueError(f"is not a real date and time: {err}") from err
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # an offset that moves year 1 or 9999 out of range: the range's own end
        return datetime.min.replace(tzinfo=UTC) if parsed.year == 1 else datetime.max.replace(tzinfo=UTC)


QueryTime = Annotated[datetime, BeforeValidator(query_time), WithJsonSchema({"type": "string", "format": "date-time"})]


class AuditRecord(BaseModel):
    tenant_id: str
    sequence: int
    id: str
    type: str
    time: datetime
    appendedat: datetime
    actor: str | None
    subject: str | None
    hash: str
    on_hold: bool = Field(description="An active legal hold covers this record.")
    hold_ids: list[str]


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


EventType = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]


@router.get("/v1/audit", response_model=AuditPage, summary="Search the audit trail (auditor, platform_admin)")
def audit_search(
    principal: Reader,
    pool: PoolDep,
    type: Annotated[list[EventType] | None, Query(description="Event types (repeat for several).")] = None,
    actor: Annotated[Id | None, Query()] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=256, pattern=TEXT_PATTERN)] = None,
    from_time: Annotated[QueryTime | None, Query(description="Records with `time` at or after (RFC 3339).")] = None,
    to_time: Annotated[QueryTime | None, Query(description="Records with `time` at or before (RFC 3339).")] = None,
    from_sequence: Annotated[int | None, Query(ge=1, le=2**53 - 1)] = None,
    to_sequence: Annotated[int | None, Query(ge=1, le=2**53 - 1)] = None,
    on_hold: Annotated[
        bool | None, Query(description="Only records a legal hold covers (true) or not (false).")
    ] = None,
    order: Annotated[Literal["desc", "asc"], Query(description="desc: newest first.")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,16}$", description="`next_cursor` of the previous page.")
    ] = None,
    tenant_id: TenantQuery = None,
) -> AuditPage:
    """The tenant's log records as the audit index has them, one page at a time by sequence."""
    tenant = _tenant(principal, AUDIT_READERS, tenant_id)
    filters = audit_query.AuditFilters(
        tuple(type or ()), actor, subject, from_time, to_time, from_sequence, to_sequence, on_hold
    )
    with pool.connection() as conn:
        rows = audit_query.search(
            conn, tenant, filters, cursor=int(cursor) if cursor else None, newest_first=order == "desc", limit=limit
        )
    items = [AuditRecord(**row, on_hold=bool(row["hold_ids"])) for row in rows]
    return AuditPage(items=items, next_cursor=str(items[-1].sequence) if len(items) == limit else None)


# -- the signing key ---------------------------------------------------------------------------


class PublicKey(BaseModel):
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str = Field(description="First 16 hex characters of SHA-256 over the raw 32-byte public key.")
    public_key_pem: str = Field(description="SubjectPublicKeyInfo PEM: `verify-export --public-key` takes it.")


@router.get("/v1/audit/public-key", response_model=PublicKey, summary="The key audit manifests are signed with")
def audit_public_key(settings: SettingsDep) -> PublicKey:
    """Public by nature: anyone holding an export may check its manifest's signature."""
    public = load_private_key(settings.audit.signing_key.get_secret_value()).public_key()
    return PublicKey(key_id=key_id(public), public_key_pem=public_pem(public))


# -- legal holds ----------------------------------------------------------------------------------


class _HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_time: QueryTime | None = Field(None, description="Hold records with `time` at or after this (inclusive).")
    to_time: QueryTime | None = Field(
        None, description="… and at or before this; a range given backwards is read forwards."
    )
    case_reference: text(128)  # type: ignore[valid-type]
    reason: text(2000)  # type: ignore[valid-type]


class TenantHoldRequest(_HoldRequest):
    """Hold every record of the tenant (in the time range)."""

    scope: Literal["tenant"]


class ScopedHoldRequest(_HoldRequest):
    """Hold the records that reference one learner, program, cohort, or of one event type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scope": "learner", "scope_id": "learner-42", "case_reference": "CASE-17", "reason": "Tribunal."}
            ]
        },
    )
    scope: Literal["learner", "program", "cohort", "event_type"]
    scope_id: Id


LegalHoldRequest = Annotated[TenantHoldRequest | ScopedHoldRequest, Field(discriminator="scope")]


def hold_data(body: TenantHoldRequest | ScopedHoldRequest) -> dict[str, Any]:
    """The ``legal_hold.placed`` data of a request (without ``hold_id``): its range in order."""
    data = body.model_dump(mode="json", exclude_none=True)
    if body.from_time and body.to_time and body.from_time > body.to_time:
        data["from_time"], data["to_time"] = data["to_time"], data["from_time"]
    return data


class HoldAccepted(Accepted):
    hold_id: str


class LegalHold(BaseModel):
    tenant_id: str
    hold_id: str
    scope: str
    scope_id: str | None
    from_time: datetime | None
    to_time: datetime | None
    case_reference: str
    reason: str
    placed_by: str | None
    placed_sequence: int
    placed_at: datetime
    active: bool
    released_by: str | None
    release_reason: str | None
    released_sequence: int | None
    released_at: datetime | None


@router.post("/v1/legal-holds", status_code=202, response_model=HoldAccepted, summary="Place a legal hold")
async def place_hold(
    request: Request, principal: Reader, body: LegalHoldRequest, tenant_id: TenantQuery = None, wait: WaitParam = True
) -> HoldAccepted:
    """Appends `legal_hold.placed` (auditor, company_admin, platform_admin)."""
    tenant = _tenant(principal, HOLD_PLACERS, tenant_id)
    hold_id = f"hold-{uuid.uuid4().hex}"
    data = {"hold_id": hold_id, **hold_data(body)}
    accepted = await append_mutation(request, principal, tenant, LegalHoldPlaced.TYPE, data, wait)
    return HoldAccepted(**accepted.model_dump(), hold_id=hold_id)


def _find_hold(pool: Any, tenant: str, hold_id: str) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        return audit_query.holds(conn, tenant, hold_id=hold_id)


def _release_roles(principal: Principal, hold: dict[str, Any]) -> tuple[str, ...]:
    """The roles vetted for this release: an admin, or the auditor who placed the hold (else 403)."""
    if principal.has(*HOLD_ADMINS):
        return ()
    if principal.has("auditor") and hold["placed_by"] == principal.user_id:
        return ("auditor",)
    raise Problem(
        403,
        "Forbidden",
        "a hold is released by the one who placed it or by a company_admin",
        rule="not_hold_placer",
    )


@router.delete("/v1/legal-holds/{hold_id}", status_code=202, response_model=Accepted, summary="Release a legal hold")
async def release_hold(
    request: Request,
    principal: Reader,
    pool: PoolDep,
    hold_id: Annotated[Id, Path()],
    reason: Annotated[str, Query(min_length=1, max_length=2000, pattern=TEXT_PATTERN)],
    tenant_id: TenantQuery = None,
    wait: WaitParam = True,
) -> Accepted:
    """Appends `legal_hold.released`: the auditor who placed the hold, or a company_admin.
    404 for a hold unknown in your tenant (pass `min_position` to see one you just placed),
    409 when it is already released."""
    tenant = _tenant(principal, HOLD_PLACERS, tenant_id)
    found = await run_in_threadpool(_find_hold, pool, tenant, hold_id)
    if not found:
        raise Problem(404, "Not found", f"legal hold {hold_id!r} not found")
    if found[0]["released_sequence"] is not None:
        raise Problem(409, "Conflict", f"legal hold {hold_id!r} is already released")
    also = _release_roles(principal, found[0])
    data = {"hold_id": hold_id, "reason": reason}
    return await append_mutation(request, principal, tenant, LegalHoldReleased.TYPE, data, wait, also=also)


@router.get("/v1/legal-holds", response_model=list[LegalHold], summary="The tenant's legal holds")
def list_holds(
    principal: Reader,
    pool: PoolDep,
    active: Annotated[bool, Query(description="Only the holds in force.")] = False,
    tenant_id: TenantQuery = None,
) -> list[LegalHold]:
    """Every hold placed in the tenant, with its release if any (auditor, company_admin, platform_admin)."""
    tenant = _tenant(principal, HOLD_PLACERS, tenant_id)
    with pool.connection() as conn:
        rows = audit_query.holds(conn, tenant, active_only=active)
    return [LegalHold(**row, active=row["released_sequence"] is None) for row in rows]


# -- the audit export request (run by the export pipeline) ---------------------------------------


# The types of the contract, as an enum the OpenAPI document shows (and clients can pick from).
KnownEventType = Literal.__getitem__(tuple(event_types()))


class AuditExportRequest(BaseModel):
    """Which part of the tenant's log to export. Each bound is a sequence or a time (when the
    log appended the record, ``appendedat``); given both, the sequence wins; bounds given
    backwards are read forwards; absent bounds are open. ``types`` keeps full rows for those
    types only; the others become stubs so the chain still links."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"from_time": "2026-01-01T00:00:00Z", "types": ["legal_hold.placed"]}]},
    )
    from_sequence: bounded_int(1, 2**53 - 1) | None = None  # type: ignore[valid-type]
    to_sequence: bounded_int(1, 2**53 - 1) | None = None  # type: ignore[valid-type]
    from_time: QueryTime | None = None
    to_time: QueryTime | None = None
    types: list[KnownEventType] | None = Field(None, min_length=1, max_length=100)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _bounds(self) -> AuditExportRequest:
        # Lenient on purpose: every schema-valid request means one range (no 422 to decode).
        if self.from_sequence is not None:
            self.from_time = None
        if self.to_sequence is not None:
            self.to_time = None
        if self.from_sequence and self.to_sequence and self.from_sequence > self.to_sequence:
            self.from_sequence, self.to_sequence = self.to_sequence, self.from_sequence
        if self.from_time and self.to_time and self.from_time > self.to_time:
            self.from_time, self.to_time = self.to_time, self.from_time
        return self


def export_range(conn: Any, tenant: str, request: AuditExportRequest) -> ExportRange | None:
    """The contiguous sequence range ``request`` selects in the tenant's log as the audit index
    knows it (a bound beyond the head stops at the head), or None when it selects nothing."""
    low, high = audit_query.sequence_bounds(conn, tenant, request.from_time, request.to_time)
    if low is None or high is None:
        return None
    first = max(low, request.from_sequence or 1)
    last = min(high, request.to_sequence or high)
    if first > last:
        return None
    return ExportRange(first, last, frozenset(request.types) if request.types else None)
