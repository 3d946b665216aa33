"""What a token must carry to prove who is calling, and how keys are found."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import AuthError, mint_token, principal_from_token
from skillmind.settings import ApiSettings

API = ApiSettings()


def _hs256(api: ApiSettings, **claims: Any) -> str:
    return jwt.encode(claims, api.jwt_secret.get_secret_value(), algorithm="HS256")


def _claims(**override: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base = {"sub": "u1", "tenant": "acme", "roles": ["learner"], "iat": now, "exp": now + timedelta(hours=1)}
    return {k: v for k, v in {**base, **override}.items() if v is not None}


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"sub": ""}, "sub"),
        ({"sub": None}, "sub"),
        ({"sub": 7}, "(?i)sub"),
        ({"iat": None}, "iat"),
        ({"exp": None}, "exp"),
        ({"exp": datetime.now(UTC) + timedelta(days=30)}, "limit"),
        ({"iat": datetime.now(UTC) + timedelta(hours=1)}, "iat|yet"),
        ({"tenant": ""}, "tenant"),
    ],
)
def test_tokens_without_a_proper_subject_or_lifetime_are_refused(override: dict[str, Any], why: str) -> None:
    with pytest.raises(AuthError, match=why):
        principal_from_token(API, _hs256(API, **_claims(**override)))


def test_small_clock_leeway() -> None:
    just_expired = _claims(exp=datetime.now(UTC) - timedelta(seconds=5), iat=datetime.now(UTC) - timedelta(hours=1))
    assert principal_from_token(API, _hs256(API, **just_expired)).user_id == "u1"


def test_audience_and_issuer_are_checked_when_configured() -> None:
    api = ApiSettings(jwt_audience="skillmind", jwt_issuer="https://id.example")
    assert principal_from_token(api, mint_token(api, tenant="acme", user="u", roles=["learner"])).user_id == "u"
    for claims, why in [
        (_claims(aud="skillmind"), "iss"),
        (_claims(iss="https://id.example"), "aud"),
        (_claims(aud="another-service", iss="https://id.example"), "udience"),
        (_claims(aud="skillmind", iss="https://evil.example"), "ssuer"),
    ]:
        with pytest.raises(AuthError, match=why):
            principal_from_token(api, _hs256(api, **claims))


class _Jwks:
    """A real HTTP server publishing a key set that the test rotates."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": [jwks.public(kid) for kid in jwks.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def public(self, kid: str) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, kid: str) -> str:
        return jwt.encode(_claims(), self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[_Jwks]:
    server = _Jwks()
    yield server
    server.server.shutdown()


def test_jwks_keys_are_cached_and_refreshed_on_an_unknown_kid(jwks: _Jwks) -> None:
    api = ApiSettings(jwks_url=jwks.url, jwks_refresh_cooldown_s=0)  # the default, 30 s, would make this test wait
    jwks.keys["k1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert principal_from_token(api, jwks.token("k1")).user_id == "u1"
    assert principal_from_token(api, jwks.token("k1")).user_id == "u1"
    assert jwks.fetches == 1, "the key set is cached"
    jwks.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # rotation
    assert principal_from_token(api, jwks.token("k2")).user_id == "u1"
    assert jwks.fetches == 2, "an unknown kid refreshes the key set once"
    with pytest.raises(AuthError):
        principal_from_token(api, mint_token(API, tenant="acme", user="u", roles=["learner"]))  # HS256 refused
