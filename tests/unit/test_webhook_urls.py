"""Webhook URLs that would make the server call inside its own network are refused."""

from __future__ import annotations

import pytest

from jobs.webhooks import url_refusal


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:15432/",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://localhost:8000/",
        "https://192.168.1.1/x",
        # the legacy IPv4 forms clients still connect to (found by a new-user trial)
        "http://2130706433:18765/ssrf",
        "http://0/x",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://10.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://0.0.0.0/",
    ],
)
def test_internal_targets_are_refused(url: str) -> None:
    assert url_refusal(url, allow_private=False) is not None
    assert url_refusal(url, allow_private=True) is None


def test_public_targets_pass() -> None:
    assert url_refusal("https://hooks.example.com/skillmind", allow_private=False) is None
    assert url_refusal("https://93.184.216.34/x", allow_private=False) is None


@pytest.mark.parametrize("host", ["face.bad", "1.2.3.4.5", "hooks.example.com", "8.8.8.8", "93.184.216.34"])
def test_dns_names_and_public_addresses_are_not_refused(host: str) -> None:
    assert url_refusal(f"https://{host}/hook", allow_private=False) is None
