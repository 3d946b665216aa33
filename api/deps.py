"""Request dependencies, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AuthError, Principal, principal_from_token
from api.problems import Problem
from events.inbox import InboxWriter
from skillmind.settings import Settings

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT minted by your identity provider (locally: `skillmind token --tenant T --user U --role R`).",
)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_inbox(request: Request) -> InboxWriter:
    return request.app.state.inbox


def get_principal(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
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


SettingsDep = Annotated[Settings, Depends(get_settings)]
InboxDep = Annotated[InboxWriter, Depends(get_inbox)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
