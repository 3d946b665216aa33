"""Directory and settings mutations. The API never writes a read model: each request
appends one mutation event (the caller is its ``actor``) and answers 202 with the
event id and, once the sequencer has placed it, its position in the tenant's log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.deps import CurrentPrincipal
from api.policy import append_refusal
from api.problems import Problem, problem_responses
from events.errors import LogError
from events.inbox import encode
from schemas.registry import latest_version
from schemas.types import ID_PATTERN, EventData, Id, Role
from schemas.v1 import (
    RETENTION_DEFAULTS,
    CohortCreated,
    LearnerEnrolled,
    ProgramCreated,
    RetentionPolicySet,
    TenantCreated,
    TenantSettingsChanged,
)
from schemas.v2 import Capability, RoleList
from schemas.validation import Invalid, validate_event
from schemas.validation import Problem as PolicyProblem

router = APIRouter(tags=["directory and settings"], responses=problem_responses(401, 403, 404, 409, 422, 503))


class Accepted(BaseModel):
    event_id: str
    tenant_id: str
    type: str
    position: int | None = Field(
        description="The event's `sequence` in the tenant's log; null if "
        "not yet placed when the request returned (`wait=false` or timeout)."
    )


# How the sequencer's reasons for refusing a mutation map to HTTP.
REFUSAL_STATUS = {"tenant_exists": 409, "unknown_tenant": 404}

WaitParam = Annotated[
    bool, Query(description="Wait (≤ 10 s) until the event is in the log and answer with its position.")
]
TenantParam = Annotated[
    str | None,
    Query(
        pattern=ID_PATTERN,
        min_length=1,
        description="Tenant to act on; only a platform_admin may name another than the token's.",
        max_length=128,
    ),
]


def _tenant_of(principal: Principal, requested: str | None) -> str:
    tenant = requested or principal.tenant_id
    if tenant != principal.tenant_id and not principal.has("platform_admin"):
        # Another tenant's resources do not exist for you: 404, never 403.
        raise Problem(404, "Not found", f"tenant {tenant!r} not found")
    return tenant


def invalid_mutation(judged: Invalid) -> Problem:
    """The 422 problem of a mutation the contract refuses: every field and rule."""
    return Problem(
        422,
        "Invalid mutation",
        judged.reason,
        errors=[{"field": p.field, "rule": p.rule, "message": p.message} for p in judged.problems],
    )


# Directory references a mutation makes, checked against the tenant's directory before the
# append: (field of data, read-model table, its key column).
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "cohort.created": (("program_id", "programs"),),
    "learner.enrolled": (("cohort_id", "cohorts"),),
}
REFERENCE_WAIT_S = 2.0


def _exists(pool: Any, tenant: str, table: str, column: str, value: str) -> bool:
    query = sql.SQL("select exists (select 1 from readmodel.{t} where tenant_id = %s and {c} = %s)").format(
        t=sql.Identifier(table), c=sql.Identifier(column)
    )
    with pool.connection() as conn:
        return bool(conn.execute(query, [tenant, value]).fetchone()[0])


async def caught_up(request: Request, tenant: str, timeout_s: float) -> int | None:
    """Wait until the read models hold the newest position of ``tenant`` this replica's log
    tail has seen (a write it just answered included); return that position, or None when
    it has seen nothing of the tenant. Raises the 409 ``Problem`` of
    ``PositionWatcher.wait_for`` after ``timeout_s``."""
    head: int | None = request.app.state.logtail.head(tenant)
    if head is not None:
        await request.app.state.positions.wait_for(tenant, head, timeout_s)
    return head


async def missing_reference(
    request: Request, tenant: str, event_type: str, data: dict[str, Any]
) -> PolicyProblem | None:
    """A directory id ``data`` names that the tenant does not have (rule ``unknown_reference``).

    Ids are per tenant, so another tenant's cohort is unknown here too. The directory read
    model may trail the log: when an id is missing, the check first waits (≤ 2 s) for the read
    models to reach the newest position this replica has seen for the tenant, which covers a
    program or cohort created a moment ago through this API. If they cannot catch up in time
    the mutation is accepted unchecked (the log takes it; reports leave an unknown cohort out
    of program figures) rather than refused on a guess.
    """
    pool = request.app.state.pool
    for field, table in REFERENCES.get(event_type, ()):
        value = data.get(field)
        if not isinstance(value, str):
            continue
        if await run_in_threadpool(_exists, pool, tenant, table, field, value):
            continue
        try:
            head = await caught_up(request, tenant, REFERENCE_WAIT_S)
        except Problem:
            return None
        if head is None:
            return None  # this replica has seen nothing of the tenant yet: cannot tell
        if not await run_in_threadpool(_exists, pool, tenant, table, field, value):
            noun = field.removesuffix("_id")
            return PolicyProblem(
                f"data.{field}",
                "unknown_reference",
                f"tenant {tenant!r} has no {noun} {value!r} (as of position {head}); create the {noun} first",
            )
    return None


async def append_mutation(
    request: Request,
    principal: Principal,
    tenant: str,
    event_type: str,
    data: dict[str, Any],
    wait: bool,
    *,
    also: tuple[str, ...] = (),
    event_id: str | None = None,
) -> Accepted:
    """Append one mutation by ``principal`` (``also``: roles the endpoint vetted, see
    ``policy.append_refusal``; ``event_id``: a derived id, so a retry is a duplicate) and
    answer with its id and, when ``wait``, its position."""
    event = {
        "specversion": "1.0",
        "id": event_id or f"api-{uuid.uuid4().hex}",
        "source": "/skillmind/api",
        "type": event_type,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "tenantid": tenant,
        "actor": principal.user_id,
        "schemaversion": latest_version(event_type),
        "data": data,
    }
    judged = validate_event(event)
    if isinstance(judged, Invalid):
        raise invalid_mutation(judged)
    refusal = append_refusal(principal, judged.envelope, judged.data, also=also)
    if refusal is None:
        refusal = await missing_reference(request, tenant, event_type, data)
        if refusal is not None:
            raise Problem(422, "Unknown reference", refusal.message, field=refusal.field, rule=refusal.rule)
    if refusal:
        status = 404 if refusal.rule == "tenant_forbidden" else 403
        raise Problem(
            status,
            "Not found" if status == 404 else "Forbidden",
            refusal.message,
            field=refusal.field,
            rule=refusal.rule,
        )
    try:
        message = encode(judged.record)
    except ValueError as err:  # e.g. an integer JCS cannot represent: refused, never a 500
        raise Problem(422, "Invalid mutation", f"cannot be encoded canonically: {err}") from err
    inbox = request.app.state.inbox
    try:
        await run_in_threadpool(inbox.append_encoded, [message])
    except LogError as err:
        raise Problem(503, "Log unavailable", f"{err}; retry the request", headers={"Retry-After": "5"}) from err
    position = None
    if wait:
        landing = await run_in_threadpool(
            request.app.state.logtail.wait,
            tenant,
            event["id"],
            request.app.state.settings.api.read_your_writes_timeout_s,
        )
        if landing and landing.refusal:
            status = REFUSAL_STATUS.get(landing.rule or "", 422)
            raise Problem(status, "Refused by the log", landing.refusal, event_id=event["id"], rule=landing.rule)
        position = landing.sequence if landing else None
    return Accepted(event_id=event["id"], tenant_id=tenant, type=event_type, position=position)


@router.post("/v1/tenants", status_code=202, response_model=Accepted, summary="Create a tenant (platform_admin)")
async def create_tenant(
    request: Request, principal: CurrentPrincipal, body: TenantCreated, wait: WaitParam = True
) -> Accepted:
    return await append_mutation(
        request, principal, body.tenant_id, TenantCreated.TYPE, body.model_dump(mode="json"), wait
    )


def _role_route(method: str, event_type: str, summary: str) -> None:
    """Grant (PUT) or revoke (DELETE) a role: the same route but for its event."""

    async def change_role(
        request: Request,
        principal: CurrentPrincipal,
        user_id: Annotated[Id, Path()],
        role: Role,
        tenant_id: TenantParam = None,
        wait: WaitParam = True,
    ) -> Accepted:
        return await append_mutation(
            request, principal, _tenant_of(principal, tenant_id), event_type, {"user_id": user_id, "role": role}, wait
        )

    change_role.__name__ = event_type.replace(".", "_")
    router.api_route(
        "/v1/users/{user_id}/roles/{role}", methods=[method], status_code=202, response_model=Accepted, summary=summary
    )(change_role)


_role_route("PUT", "role.granted", "Grant a role")
_role_route("DELETE", "role.revoked", "Revoke a role")


def _directory_route(path: str, model: type[EventData], summary: str) -> None:
    """POST ``path`` with the event's own data model as the body: one route per directory event."""

    async def create(
        request: Request,
        principal: CurrentPrincipal,
        body: model,  # type: ignore[valid-type]
        tenant_id: TenantParam = None,
        wait: WaitParam = True,
    ) -> Accepted:
        return await append_mutation(
            request,
            principal,
            _tenant_of(principal, tenant_id),
            model.TYPE,
            body.model_dump(mode="json"),  # type: ignore[attr-defined]
            wait,
        )

    create.__name__ = f"create_{model.TYPE.split('.')[0]}"
    create.__annotations__["body"] = model  # a real class, not the string "model" (postponed annotations)
    router.post(path, status_code=202, response_model=Accepted, summary=summary)(create)


_directory_route("/v1/programs", ProgramCreated, "Create a program")
_directory_route("/v1/cohorts", CohortCreated, "Create a cohort")
_directory_route("/v1/enrolments", LearnerEnrolled, "Enrol a learner in a cohort")


class ManagerBody(BaseModel):
    model_config = {"extra": "forbid"}
    manager_id: Id


class MentorBody(BaseModel):
    model_config = {"extra": "forbid"}
    mentor_id: Id


def _learner_link_route(method: str, path: str, model: type[BaseModel], event_type: str, summary: str) -> None:
    """A route linking ``learner_id`` (from the path) to the person named in the body."""

    async def link(
        request: Request,
        principal: CurrentPrincipal,
        learner_id: Annotated[Id, Path()],
        body: model,  # type: ignore[valid-type]
        tenant_id: TenantParam = None,
        wait: WaitParam = True,
    ) -> Accepted:
        return await append_mutation(
            request,
            principal,
            _tenant_of(principal, tenant_id),
            event_type,
            {"learner_id": learner_id, **body.model_dump()},  # type: ignore[attr-defined]
            wait,
        )

    link.__name__ = event_type.replace(".", "_")
    link.__annotations__["body"] = model  # a real class, not the string "model" (postponed annotations)
    router.api_route(path, methods=[method], status_code=202, response_model=Accepted, summary=summary)(link)


_learner_link_route(
    "PUT", "/v1/learners/{learner_id}/manager", ManagerBody, "manager.assigned", "Assign a learner's manager"
)
_learner_link_route(
    "POST", "/v1/learners/{learner_id}/mentors", MentorBody, "mentor.assigned", "Assign a mentor to a learner"
)


class SettingsBody(TenantSettingsChanged):
    """Score settings; fields left out keep their value. The event's own model, so the API
    takes exactly what the log takes (strict integers: ``true`` or ``"80"`` is refused)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window_days": 28,
                    "at_risk_below": 40,
                    "target": 75,
                    "weights": {"signin": 20, "attendance": 35, "progress": 25, "submissions": 20},
                }
            ]
        },
    )


@router.put(
    "/v1/tenants/{tenant_id}/settings",
    status_code=202,
    response_model=Accepted,
    summary="Change the tenant's score settings",
)
async def put_settings(
    request: Request,
    principal: CurrentPrincipal,
    tenant_id: Annotated[Id, Path()],
    body: SettingsBody,
    wait: WaitParam = True,
) -> Accepted:
    return await append_mutation(
        request,
        principal,
        _tenant_of(principal, tenant_id),
        "tenant.settings_changed",
        body.model_dump(mode="json", exclude_none=True),
        wait,
    )


class CapabilityFlags(BaseModel):
    """Export capabilities to switch; flags not named keep their value (at least one flag)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=False,
        json_schema_extra={"minProperties": 1, "examples": [{"exports.csv": True, "exports.pdf": False}]},
    )
    exports_csv: bool = Field(None, alias="exports.csv")  # type: ignore[assignment]  # unset: unchanged
    exports_pdf: bool = Field(None, alias="exports.pdf")  # type: ignore[assignment]  # unset: unchanged
    exports_parquet: bool = Field(None, alias="exports.parquet")  # type: ignore[assignment]  # unset: unchanged
    exports_bulk: bool = Field(None, alias="exports.bulk")  # type: ignore[assignment]  # unset: unchanged
    audit_export: bool = Field(None, alias="audit.export")  # type: ignore[assignment]  # unset: unchanged
    roles: dict[Capability, RoleList] = Field(
        None,  # type: ignore[arg-type]  # unset: unchanged
        description='Restrict capabilities to roles, e.g. {"exports.bulk": ["company_admin"]}; [] lifts it.',
    )


@router.put(
    "/v1/tenants/{tenant_id}/capabilities",
    status_code=202,
    response_model=Accepted,
    summary="Switch export capabilities on or off",
)
async def put_capabilities(
    request: Request,
    principal: CurrentPrincipal,
    tenant_id: Annotated[Id, Path()],
    flags: CapabilityFlags,
    wait: WaitParam = True,
) -> Accepted:
    """A JSON object of flags (`exports.csv`, `exports.pdf`, `exports.parquet`, `exports.bulk`,
    `audit.export`) and optionally `roles` restricting flags to roles; what is not named keeps
    its value. Flags gate exports only: charts stay on."""
    named = flags.model_dump(by_alias=True, exclude_unset=True)
    roles = named.pop("roles", None) or {}
    if not named and not roles:
        raise Problem(422, "Invalid request", "name at least one capability flag or role restriction")
    return await append_mutation(
        request,
        principal,
        _tenant_of(principal, tenant_id),
        "tenant.capabilities_changed",
        {"flags": named, "roles": roles},
        wait,
    )


class RetentionBody(RetentionPolicySet):
    """The tenant's whole retention policy (issue 12), every field required: days to keep
    learner events (30–36,500), mutations (365–36,500) and export objects (1–3,650), the
    `cadence` (daily, weekly on Mondays, monthly on the 1st) and the UTC `hour` (0–23) of the
    purge. Minimums make a zero-day purge impossible. Without a policy a tenant gets the
    defaults (README "Retention"). The event's own model: strict integers."""

    model_config = ConfigDict(json_schema_extra={"examples": [RETENTION_DEFAULTS]})


@router.put(
    "/v1/tenants/{tenant_id}/retention",
    status_code=202,
    response_model=Accepted,
    summary="Set the tenant's retention policy",
)
async def put_retention(
    request: Request,
    principal: CurrentPrincipal,
    tenant_id: Annotated[Id, Path()],
    body: RetentionBody,
    wait: WaitParam = True,
) -> Accepted:
    """Appends `retention.policy_set`; the scheduler purges on the new cadence from then on."""
    return await append_mutation(
        request, principal, _tenant_of(principal, tenant_id), "retention.policy_set", body.model_dump(), wait
    )
