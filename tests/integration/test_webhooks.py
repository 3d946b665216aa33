"""The webhook channel against a real local HTTP receiver that verifies signatures with
``standardwebhooks`` and drops duplicate webhook-ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import free_port
from jobs.webhooks import Outcome, WebhookResult, new_secret, send_webhook
from tests.integration.webhook_receiver import WebhookReceiver

PAYLOAD = {"type": "export.completed", "timestamp": "2026-03-02T10:00:00Z", "data": {"export_id": "x1"}}


def _send(url: str, secret: str, msg_id: str, **kw: Any) -> WebhookResult:
    options: dict[str, Any] = {"timeout_s": 5, **kw}
    return send_webhook(url, secret, msg_id=msg_id, timestamp=datetime.now(UTC), payload=PAYLOAD, **options)


def test_delivered_and_verified_by_the_receiver() -> None:
    secret, msg_id = new_secret(), f"msg_{uuid.uuid4().hex}"
    with WebhookReceiver(secret) as receiver:
        result = _send(receiver.url, secret, msg_id)
        (delivery,) = receiver.accepted
    assert result == WebhookResult(Outcome.DELIVERED, 204, "HTTP 204")
    assert delivery.msg_id == msg_id
    assert delivery.payload == PAYLOAD


def test_500_is_retryable_and_the_retry_is_accepted_once() -> None:
    secret, msg_id = new_secret(), f"msg_{uuid.uuid4().hex}"
    with WebhookReceiver(secret, fail_first=1) as receiver:
        first = _send(receiver.url, secret, msg_id)
        second = _send(receiver.url, secret, msg_id)
        again = _send(receiver.url, secret, msg_id)  # a retry after a crash before the outcome was saved
        accepted, tally = receiver.accepted, receiver.tally
    assert (first.outcome, first.status_code) == (Outcome.RETRYABLE, 500)
    assert second.delivered and again.delivered
    assert [d.msg_id for d in accepted] == [msg_id]
    assert (tally.requests, tally.failed, tally.duplicates) == (3, 1, 1)


def test_410_gone_is_permanent() -> None:
    secret = new_secret()
    with WebhookReceiver(secret, fail_first=1, fail_status=410) as receiver:
        result = _send(receiver.url, secret, "msg_gone")
    assert (result.outcome, result.status_code, result.reason) == (Outcome.PERMANENT, 410, "HTTP 410")


def test_a_wrong_secret_is_rejected_by_the_receiver() -> None:
    with WebhookReceiver(new_secret()) as receiver:
        result = _send(receiver.url, new_secret(), "msg_forged")
        tally = receiver.tally
    assert (result.outcome, result.status_code) == (Outcome.PERMANENT, 401)
    assert (tally.rejected, tally.accepted) == (1, [])


def test_a_slow_receiver_times_out_retryably() -> None:
    secret = new_secret()
    with WebhookReceiver(secret, delay_s=1.0) as receiver:
        result = _send(receiver.url, secret, "msg_slow", timeout_s=0.3)
    assert (result.outcome, result.status_code) == (Outcome.RETRYABLE, None)
    assert result.reason.startswith("timeout")


def test_nothing_listening_is_retryable() -> None:
    result = _send(f"http://127.0.0.1:{free_port()}/hooks", new_secret(), "msg_nobody")
    assert (result.outcome, result.status_code) == (Outcome.RETRYABLE, None)
    assert result.reason.startswith("network: ConnectError")


def test_a_url_we_cannot_send_to_is_permanent() -> None:
    result = _send("ftp://127.0.0.1/hooks", new_secret(), "msg_ftp")
    assert result.outcome is Outcome.PERMANENT and result.reason.startswith("bad URL")


def test_one_client_serves_many_deliveries() -> None:
    secret = new_secret()
    with WebhookReceiver(secret) as receiver, httpx.Client() as client:
        results = [_send(receiver.url, secret, f"msg_{n}", client=client) for n in range(20)]
        accepted = receiver.wait_for_accepted(20)
    assert all(r.delivered for r in results)
    assert sorted(d.msg_id for d in accepted) == sorted(f"msg_{n}" for n in range(20))


def test_a_redirect_is_not_followed_even_by_a_client_that_would() -> None:
    secret = new_secret()
    with WebhookReceiver(secret) as target, WebhookReceiver(secret, fail_first=1, fail_status=307) as redirector:
        redirector.location = target.url
        with httpx.Client(follow_redirects=True) as client:
            result = _send(redirector.url, secret, "msg_redirect", client=client)
        assert target.tally.requests == 0
    assert (result.outcome, result.status_code) == (Outcome.PERMANENT, 307)
