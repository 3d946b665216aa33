"""Webhook URLs that would make the server call inside its own network are refused."""

from __future__ import annotations

import pytest

from api.notifications import url_refusal


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:15432/",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://localhost:8000/",
        "https://192.168.1.1/x",
    ],
)
def test_internal_targets_are_refused(url: str) -> None:
    assert url_refusal(url, allow_private=False) is not None
    assert url_refusal(url, allow_private=True) is None


def test_public_targets_pass() -> None:
    assert url_refusal("https://hooks.example.com/skillmind", allow_private=False) is None
    assert url_refusal("https://93.184.216.34/x", allow_private=False) is None
