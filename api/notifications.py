"""The in-app bell, notification preferences, webhook subscriptions, and who am I.

Every change is a mutation in the log (``notification.read``,
``notification.preferences_changed``, ``webhook.subscribed`` …); reads come from the read
models those events fold into. A webhook's signing secret is the one thing kept outside
the log: it is shown once, stored apart (``webhook_secrets``), and never appended.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.db import PoolDep
from api.deps import CurrentPrincipal, Reader
from api.mutations import Accepted, WaitParam, append_mutation
from api.problems import Problem, problem_responses
from jobs.webhooks import url_refusal
from projections.capabilities import capability_states
from schemas.types import Id
from schemas.v1 import WebhookSubscribed

router = APIRouter(tags=["notifications"], responses=problem_responses(401, 403, 404, 409, 422))


class Notification(BaseModel):
    notification_id: str
    type: str
    export_id: str | None
    title: str
    created_at: datetime
    read: bool


class NotificationPage(BaseModel):
    items: list[Notification]
    unread: int = Field(description="Unread notifications in all.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


@router.get("/v1/notifications", response_model=NotificationPage, summary="Your in-app notifications")
def list_notifications(
    principal: Reader,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64, pattern=r"^[01]\.[0-9]{1,18}$")] = None,
) -> NotificationPage:
    """Unread first, newest first within each; `cursor` continues a page."""
    after_read, after_seq = cursor.split(".") if cursor else ("-1", str(2**62))
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select notification_id, type, export_id, title, created_at, read, sequence, read::int as r "
            "from readmodel.notifications where tenant_id = %(t)s and user_id = %(u)s and "
            "(read::int, -sequence) > (%(r)s, -%(s)s) order by read::int, sequence desc limit %(n)s",
            {
                "t": principal.tenant_id,
                "u": principal.user_id,
                "r": int(after_read),
                "s": int(after_seq),
                "n": limit + 1,
            },
        ).fetchall()
        unread = conn.execute(
            "select count(*) from readmodel.notifications where tenant_id = %s and user_id = %s and not read",
            [principal.tenant_id, principal.user_id],
        ).fetchone()[0]  # type: ignore[index]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = f"{rows[-1]['r']}.{rows[-1]['sequence']}" if more else None
    items = [Notification(**{k: v for k, v in r.items() if k not in ("sequence", "r")}) for r in rows]
    return NotificationPage(items=items, unread=unread, next_cursor=next_cursor)


@router.post(
    "/v1/notifications/{notification_id}/read", status_code=202, response_model=Accepted, summary="Mark as read"
)
async def read_notification(
    request: Request,
    principal: CurrentPrincipal,
    pool: PoolDep,
    notification_id: Annotated[Id, Path()],
    wait: WaitParam = True,
) -> Accepted:
    mine = await run_in_threadpool(_exists, pool, principal, notification_id)
    if not mine:
        raise Problem(404, "Not found", f"notification {notification_id!r} not found")
    data = {"user_id": principal.user_id, "notification_id": notification_id}
    return await append_mutation(request, principal, principal.tenant_id, "notification.read", data, wait)


def _exists(pool: Any, principal: Principal, notification_id: str) -> bool:
    with pool.connection() as conn:
        row = conn.execute(
            "select 1 from readmodel.notifications where tenant_id = %s and user_id = %s and notification_id = %s",
            [principal.tenant_id, principal.user_id, notification_id],
        ).fetchone()
    return row is not None


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: bool = Field(description="Send me an e-mail when my exports finish or fail.")


class PreferencesAccepted(Accepted):
    warnings: list[str] = Field(
        default_factory=list,
        description="Things that keep the preference from doing what you expect, e.g. no e-mail "
        "address on record for you (opting in then sends nothing until one is registered).",
    )


NO_EMAIL_ON_RECORD = (
    "the directory holds no e-mail address for you (never registered, or erased), "
    "so no e-mail is sent until one is registered; the in-app bell still works"
)


def _email_on_record(pool: Any, tenant: str, user: str) -> bool:
    with pool.connection() as conn:
        row = conn.execute(
            "select email from readmodel.users where tenant_id = %s and user_id = %s", [tenant, user]
        ).fetchone()
    return bool(row and row[0])


@router.put(
    "/v1/me/notification-preferences",
    status_code=202,
    response_model=PreferencesAccepted,
    summary="Opt in or out of e-mail",
)
async def put_preferences(
    request: Request, principal: CurrentPrincipal, pool: PoolDep, body: Preferences, wait: WaitParam = True
) -> PreferencesAccepted:
    """Appends ``notification.preferences_changed``. Opting in is accepted even when the
    directory has no e-mail address for you, with a warning saying so (the address may be
    registered later; the preference then applies)."""
    data = {"user_id": principal.user_id, "email": body.email}
    accepted = await append_mutation(
        request, principal, principal.tenant_id, "notification.preferences_changed", data, wait
    )
    warnings = []
    if body.email and not await run_in_threadpool(_email_on_record, pool, principal.tenant_id, principal.user_id):
        warnings.append(NO_EMAIL_ON_RECORD)
    return PreferencesAccepted(**accepted.model_dump(), warnings=warnings)


class CapabilityView(BaseModel):
    enabled: bool
    allowed: bool
    reason: str | None


class Me(BaseModel):
    user_id: str
    tenant_id: str
    roles: list[str]
    capabilities: dict[str, CapabilityView]
    email_notifications: bool
    email_on_record: bool = Field(description="The directory holds an e-mail address for you.")


@router.get("/v1/me", response_model=Me, summary="Who you are, your roles, and what your tenant lets you export")
def me(principal: Reader, pool: PoolDep) -> Me:
    with pool.connection() as conn:
        states = capability_states(conn, principal.tenant_id, principal.roles)
        row = conn.execute(
            "select email from readmodel.notification_preferences where tenant_id = %s and user_id = %s",
            [principal.tenant_id, principal.user_id],
        ).fetchone()
    return Me(
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        roles=sorted(principal.roles),
        capabilities={k: CapabilityView(**vars(v)) for k, v in states.items()},
        email_notifications=bool(row and row[0]),
        email_on_record=_email_on_record(pool, principal.tenant_id, principal.user_id),
    )


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, WebhookSubscribed.model_fields["url"]]
    event_types: list[Literal["export.completed", "export.failed"]] = Field(min_length=1, max_length=8)


class WebhookCreated(BaseModel):
    webhook_id: str
    secret: str = Field(description="The Standard Webhooks signing secret (`whsec_…`): shown once, keep it.")
    position: int | None


class Delivery(BaseModel):
    delivery_id: str
    state: Literal["pending", "done", "dead"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    done_at: datetime | None
    next_attempt_at: datetime


class DeliveryList(BaseModel):
    items: list[Delivery]


def _admin(principal: Principal) -> None:
    if not principal.has("company_admin", "platform_admin"):
        raise Problem(403, "Forbidden", "webhooks are managed by a company_admin", rule="role_required")


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreated, summary="Subscribe an endpoint")
async def subscribe(
    request: Request, principal: CurrentPrincipal, pool: PoolDep, body: WebhookRequest
) -> WebhookCreated:
    """Signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`);
    retried with back-off; the secret is in this answer only."""
    from jobs.webhooks import new_secret

    _admin(principal)
    refusal = url_refusal(body.url, request.app.state.settings.api.webhook_private_targets)
    if refusal:
        raise Problem(
            422,
            "Invalid webhook URL",
            f"url: {refusal}",
            errors=[{"field": "url", "rule": "private_address", "message": refusal}],
        )
    webhook_id, secret = f"wh-{uuid.uuid4().hex[:20]}", new_secret()
    await run_in_threadpool(_store_secret, pool, principal.tenant_id, webhook_id, secret)
    data = {"webhook_id": webhook_id, "url": body.url, "event_types": body.event_types}
    accepted = await append_mutation(request, principal, principal.tenant_id, "webhook.subscribed", data, True)
    return WebhookCreated(webhook_id=webhook_id, secret=secret, position=accepted.position)


def _store_secret(pool: Any, tenant: str, webhook_id: str, secret: str) -> None:
    with pool.connection() as conn:
        conn.execute(
            "insert into webhook_secrets (tenant_id, webhook_id, secret) values (%s, %s, %s)",
            [tenant, webhook_id, secret],
        )


@router.delete("/v1/webhooks/{webhook_id}", status_code=202, response_model=Accepted, summary="Unsubscribe")
async def unsubscribe(
    request: Request,
    principal: CurrentPrincipal,
    pool: PoolDep,
    webhook_id: Annotated[Id, Path()],
    wait: WaitParam = True,
) -> Accepted:
    _admin(principal)
    await run_in_threadpool(_require_webhook, pool, principal, webhook_id)
    return await append_mutation(
        request, principal, principal.tenant_id, "webhook.unsubscribed", {"webhook_id": webhook_id}, wait
    )


def _require_webhook(pool: Any, principal: Principal, webhook_id: str) -> None:
    with pool.connection() as conn:
        row = conn.execute(
            "select 1 from webhook_secrets where tenant_id = %s and webhook_id = %s", [principal.tenant_id, webhook_id]
        ).fetchone()
    if row is None:
        raise Problem(404, "Not found", f"webhook {webhook_id!r} not found")


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryList, summary="What was sent, and how it went"
)
def deliveries(principal: CurrentPrincipal, pool: PoolDep, webhook_id: Annotated[Id, Path()]) -> DeliveryList:
    _admin(principal)
    _require_webhook(pool, principal, webhook_id)
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select key as delivery_id, state, attempts, last_status, last_error, created_at, done_at, next_attempt_at "
            "from outbox where kind = 'webhook.send' and tenant_id = %s and recipient = %s order by id desc limit 200",
            [principal.tenant_id, webhook_id],
        ).fetchall()
    return DeliveryList(items=[Delivery(**r) for r in rows])
