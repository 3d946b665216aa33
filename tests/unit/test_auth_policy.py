from __future__ import annotations

from datetime import timedelta

import pytest

from api.auth import AuthError, Principal, mint_token, principal_from_token
from api.policy import append_refusal
from schemas.examples import EXAMPLE_DATA, cloud_event
from schemas.validation import Valid, validate_event
from skillmind.settings import ApiSettings

API = ApiSettings()


def test_token_round_trip() -> None:
    token = mint_token(API, tenant="acme", user="u1", roles=["manager", "mentor"])
    assert principal_from_token(API, token) == Principal("u1", "acme", frozenset({"manager", "mentor"}))


def test_bad_tokens_are_refused() -> None:
    expired = mint_token(API, tenant="acme", user="u1", roles=["learner"], ttl=-timedelta(minutes=1))  # past leeway
    with pytest.raises(AuthError, match="expired"):
        principal_from_token(API, expired)
    other = ApiSettings(jwt_secret="another-secret-of-at-least-thirty-two-bytes")  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="Signature"):
        principal_from_token(API, mint_token(other, tenant="acme", user="u", roles=["learner"]))
    with pytest.raises(AuthError):
        principal_from_token(API, "not-a-jwt")
    with pytest.raises(ValueError, match="unknown role"):
        mint_token(API, tenant="acme", user="u", roles=["emperor"])


def _valid(event_type: str, tenant: str = "acme") -> Valid:
    data = dict(EXAMPLE_DATA[event_type])
    if event_type == "tenant.created":
        data["tenant_id"] = tenant
    result = validate_event(cloud_event(event_type, data, tenant=tenant))
    assert isinstance(result, Valid)
    return result


def _may(roles: set[str], event_type: str, tenant: str = "acme") -> bool:
    valid = _valid(event_type, tenant)
    return append_refusal(Principal("u", "acme", frozenset(roles)), valid.envelope, valid.data) is None


@pytest.mark.parametrize(
    ("roles", "event_type", "tenant", "allowed"),
    [
        ({"ingest"}, "learner.signed_in", "acme", True),
        ({"ingest"}, "program.created", "acme", False),
        ({"learner"}, "learner.signed_in", "acme", False),
        ({"company_admin"}, "learner.signed_in", "acme", True),
        ({"company_admin"}, "program.created", "acme", True),
        ({"company_admin"}, "program.created", "beta", False),
        ({"company_admin"}, "tenant.created", "acme", False),
        ({"ingest"}, "learner.signed_in", "beta", False),
        ({"platform_admin"}, "tenant.created", "beta", True),
        ({"platform_admin"}, "program.created", "beta", True),
        ({"manager", "mentor", "auditor"}, "manager.assigned", "acme", False),
    ],
)
def test_who_may_append_what(roles: set[str], event_type: str, tenant: str, allowed: bool) -> None:
    assert _may(roles, event_type, tenant) is allowed
