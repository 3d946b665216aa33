"""Request dependencies, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AuthError, Principal, principal_from_token
from api.db import PoolDep
from api.directory import apply_directory
from api.problems import Problem
from events.inbox import InboxWriter
from skillmind.settings import Settings

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT minted by your identity provider (locally: `skillmind token --tenant T --user U --role R`).",
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_inbox(request: Request) -> InboxWriter:
    inbox: InboxWriter = request.app.state.inbox
    return inbox


def get_token_principal(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """What the token proves: subject, tenant and the roles it was issued with."""
    if credentials is None:
        raise Problem(
            401,
            "Unauthorized",
            "send a bearer token: Authorization: Bearer <jwt>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return principal_from_token(settings.api, credentials.credentials)
    except AuthError as err:
        raise Problem(401, "Unauthorized", str(err), headers={"WWW-Authenticate": "Bearer"}) from err


TokenPrincipal = Annotated[Principal, Depends(get_token_principal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
InboxDep = Annotated[InboxWriter, Depends(get_inbox)]


def get_principal(token: TokenPrincipal, pool: PoolDep) -> Principal:
    """The caller of a write: the token's roles minus those the directory revoked."""
    return apply_directory(pool, token)


MinPosition = Annotated[
    int | None,
    Query(
        ge=1,
        description="Wait (≤ SKILLMIND_API__READ_YOUR_WRITES_TIMEOUT_S, 10 s) until the read models include "
        "your tenant's log up to this position (read-your-writes), roles and revocations included.",
    ),
]


async def get_reader(
    request: Request, token: TokenPrincipal, pool: PoolDep, settings: SettingsDep, min_position: MinPosition = None
) -> Principal:
    """The caller of a read: first wait for ``min_position`` (so the directory seen is at least
    that recent), then the token's roles minus those the directory revoked."""
    if min_position:
        timeout_s = settings.api.read_your_writes_timeout_s
        await request.app.state.positions.wait_for(token.tenant_id, min_position, timeout_s)
    return await run_in_threadpool(apply_directory, pool, token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
Reader = Annotated[Principal, Depends(get_reader)]
