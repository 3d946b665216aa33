"""Bearer JWTs: who is calling, for which tenant, with which roles.

Locally tokens are HS256 with ``SKILLMIND_API__JWT_SECRET``; in production set
``SKILLMIND_API__JWKS_URL`` and tokens are verified against the issuer's keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt

from schemas.types import ROLES
from skillmind.settings import ApiSettings

ALGORITHMS_JWKS = ["RS256", "ES256"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


class AuthError(Exception):
    """The token is missing, malformed, expired or not ours."""


def mint_token(
    api: ApiSettings, *, tenant: str, user: str, roles: list[str], ttl: timedelta = timedelta(hours=12)
) -> str:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    now = datetime.now(UTC)
    claims = {"sub": user, "tenant": tenant, "roles": sorted(set(roles)), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, api.jwt_secret.get_secret_value(), algorithm="HS256")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def principal_from_token(api: ApiSettings, token: str) -> Principal:
    try:
        if api.jwks_url:
            key = _jwks_client(api.jwks_url).get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=ALGORITHMS_JWKS, options={"require": ["exp", "sub"]})
        else:
            claims = jwt.decode(
                token,
                api.jwt_secret.get_secret_value(),
                algorithms=["HS256"],
                options={"require": ["exp", "sub"]},
            )
    except jwt.PyJWTError as err:
        raise AuthError(f"invalid bearer token: {err}") from err
    tenant, roles = claims.get("tenant"), claims.get("roles")
    if not isinstance(tenant, str) or not tenant:
        raise AuthError("invalid bearer token: claim 'tenant' must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("invalid bearer token: claim 'roles' must be a list of strings")
    return Principal(str(claims["sub"]), tenant, frozenset(roles) & frozenset(ROLES))
