"""`skillmind demo` prints a sign-in link per role: the token in the URL fragment, short-lived."""

from __future__ import annotations

import re
from datetime import timedelta

import jwt
import pytest

from skillmind.demo import CALLERS, LINK_TTL, print_links
from skillmind.settings import load_settings


def test_one_short_lived_link_per_role(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    print_links(settings)
    links = re.findall(r"^http://\S+/app/#token=(\S+)$", capsys.readouterr().out, re.MULTILINE)
    assert len(links) == len(CALLERS)
    secret = settings.api.jwt_secret.get_secret_value()
    claims = [jwt.decode(t, secret, algorithms=["HS256"], options={"verify_aud": False}) for t in links]
    assert [(c["roles"], c["sub"]) for c in claims] == [([role], user) for role, user in CALLERS]
    assert all(c["exp"] - c["iat"] == LINK_TTL.total_seconds() <= timedelta(hours=2).total_seconds() for c in claims)
