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


def _refusal_rule(caller: set[str], event_type: str, data: dict[str, object]) -> str | None:
    valid = validate_event(cloud_event(event_type, data, tenant="acme"))
    assert isinstance(valid, Valid)
    refusal = append_refusal(Principal("u", "acme", frozenset(caller)), valid.envelope, valid.data)
    return refusal.rule if refusal else None


REGISTER = {"user_id": "x", "display_name": "X", "email": "x@acme.example"}


@pytest.mark.parametrize(
    ("caller", "event_type", "data", "rule"),
    [
        ({"company_admin"}, "role.granted", {"user_id": "x", "role": "platform_admin"}, "role_not_grantable"),
        ({"platform_admin"}, "role.granted", {"user_id": "x", "role": "platform_admin"}, "role_not_grantable"),
        ({"company_admin"}, "role.revoked", {"user_id": "x", "role": "platform_admin"}, "role_not_grantable"),
        (
            {"company_admin"},
            "user.registered",
            {**REGISTER, "roles": ["learner", "platform_admin"]},
            "role_not_grantable",
        ),
        ({"company_admin"}, "role.granted", {"user_id": "x", "role": "company_admin"}, None),
        ({"company_admin"}, "role.revoked", {"user_id": "x", "role": "manager"}, None),
        ({"company_admin"}, "user.registered", {**REGISTER, "roles": ["company_admin", "auditor"]}, None),
        ({"platform_admin"}, "role.granted", {"user_id": "x", "role": "company_admin"}, None),
        ({"ingest"}, "role.granted", {"user_id": "x", "role": "learner"}, "role_required"),
    ],
)
def test_nobody_grants_a_role_above_their_own(
    caller: set[str], event_type: str, data: dict[str, object], rule: str | None
) -> None:
    assert _refusal_rule(caller, event_type, data) == rule


def test_rank_is_checked_for_every_role_named() -> None:
    from api.policy import role_refusal
    from schemas.v1 import UserRegistered

    data = UserRegistered(**REGISTER, roles=["learner", "company_admin"])  # type: ignore[arg-type]
    refusal = role_refusal(Principal("u", "acme", frozenset({"manager"})), data)
    assert refusal is not None and refusal.rule == "role_above_own" and "company_admin" in refusal.message
    assert (
        role_refusal(Principal("u", "acme", frozenset({"manager"})), UserRegistered(**REGISTER, roles=["learner"]))
        is None
    )  # type: ignore[arg-type]


def test_auditors_place_holds_but_release_only_where_an_endpoint_vetted_them() -> None:
    from api.auth import Principal
    from api.policy import append_refusal
    from schemas.examples import EXAMPLE_DATA, cloud_event
    from schemas.validation import Valid, validate_event

    auditor = Principal("aud-1", "acme", frozenset({"auditor"}))

    def refusal(event_type: str, **kw: object) -> object:
        judged = validate_event(cloud_event(event_type, EXAMPLE_DATA[event_type], tenant="acme"))
        assert isinstance(judged, Valid)
        return append_refusal(auditor, judged.envelope, judged.data, **kw)  # type: ignore[arg-type]

    assert refusal("legal_hold.placed") is None
    assert refusal("legal_hold.released") is not None  # through POST /v1/events: admins only
    assert refusal("legal_hold.released", also=("auditor",)) is None  # the DELETE endpoint checked the placer
    assert refusal("program.created") is not None
