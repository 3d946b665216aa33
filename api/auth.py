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

    def without(self, roles: frozenset[str]) -> Principal:
        """The same caller without ``roles`` (those the directory revoked)."""
        return Principal(self.user_id, self.tenant_id, self.roles - roles)


class AuthError(Exception):
    """The token is missing, malformed, expired or not ours."""


def mint_token(
    api: ApiSettings, *, tenant: str, user: str, roles: list[str], ttl: timedelta = timedelta(hours=12)
) -> str:
    """A local HS256 token (``skillmind token``, tests, the demo), with ``iss``/``aud`` when configured."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    now = datetime.now(UTC)
    claims = {"sub": user, "tenant": tenant, "roles": sorted(set(roles)), "iat": now, "exp": now + ttl}
    claims |= {k: v for k, v in (("iss", api.jwt_issuer), ("aud", api.jwt_audience)) if v}
    return jwt.encode(claims, api.jwt_secret.get_secret_value(), algorithm="HS256")


@lru_cache(maxsize=4)
def _jwks_client(url: str, cooldown_s: float) -> jwt.PyJWKClient:
    # PyJWKClient caches the key set (5 min) and refetches it once, at most every
    # ``cooldown_s``, when a token names a kid it does not hold: key rotation needs no
    # restart, and a flood of made-up kids cannot turn into a flood of fetches.
    return jwt.PyJWKClient(url, cache_keys=True, cooldown_duration=cooldown_s)


def _claims(api: ApiSettings, token: str) -> dict[str, object]:
    """Verified claims: signature, ``exp``/``iat`` (with leeway), and ``aud``/``iss`` when configured."""
    required = ["exp", "iat", "sub"] + [c for c, v in (("aud", api.jwt_audience), ("iss", api.jwt_issuer)) if v]
    if api.jwks_url:
        key: object = _jwks_client(api.jwks_url, api.jwks_refresh_cooldown_s).get_signing_key_from_jwt(token).key
        algorithms = ALGORITHMS_JWKS
    else:
        key, algorithms = api.jwt_secret.get_secret_value(), ["HS256"]
    return jwt.decode(
        token,
        key,  # type: ignore[arg-type]
        algorithms=algorithms,
        audience=api.jwt_audience,
        issuer=api.jwt_issuer,
        leeway=api.jwt_leeway_s,
        options={"require": required},
    )


def _check_claims(api: ApiSettings, claims: dict[str, object]) -> None:
    sub, tenant, roles = claims.get("sub"), claims.get("tenant"), claims.get("roles")
    if not isinstance(sub, str) or not sub:
        raise AuthError("invalid bearer token: claim 'sub' must be a non-empty string")
    lifetime = claims["exp"] - claims["iat"]  # type: ignore[operator]  # both checked numeric by PyJWT
    if lifetime > api.jwt_max_lifetime_s:
        raise AuthError(f"invalid bearer token: lives {lifetime:.0f} s; the limit is {api.jwt_max_lifetime_s} s")
    if not isinstance(tenant, str) or not tenant:
        raise AuthError("invalid bearer token: claim 'tenant' must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("invalid bearer token: claim 'roles' must be a list of strings")


def principal_from_token(api: ApiSettings, token: str) -> Principal:
    """Who is calling: verify the token and read its subject, tenant and claimed roles."""
    try:
        claims = _claims(api, token)
    except jwt.PyJWTError as err:
        raise AuthError(f"invalid bearer token: {err}") from err
    _check_claims(api, claims)
    roles = frozenset(str(role) for role in claims["roles"])  # type: ignore[attr-defined]  # a list: checked
    return Principal(str(claims["sub"]), str(claims["tenant"]), roles & frozenset(ROLES))
