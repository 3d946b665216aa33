"""Bodies the framework cannot read, or that are too large, are problem+json naming the
body and the rule (found by a new-user trial: a bare 400, and 30 MB read before refusal)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import mint_token
from skillmind.settings import load_settings


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(load_settings()))  # no lifespan: nothing here reaches a service


def _headers() -> dict[str, str]:
    token = mint_token(load_settings().api, tenant="acme", user="a", roles=["company_admin"])
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.mark.parametrize("body", [b"\xff\xfe{", b"[" * 5000 + b"]" * 5000])
def test_an_unreadable_body_is_a_400_naming_the_body(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/programs", headers=_headers(), content=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["field"], response.json()["rule"]) == ("body", "malformed_body")


def test_a_body_over_the_limit_is_refused_before_it_is_read(client: TestClient) -> None:
    body = b'{"program_id": "' + b"x" * 1_100_000 + b'"}'
    response = client.post("/v1/programs", headers=_headers(), content=body)
    assert response.status_code == 413
    assert (response.json()["field"], response.json()["rule"]) == ("body", "too_large")
