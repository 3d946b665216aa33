"""Standard Webhooks signing, response classification and the retry schedule (pure parts)."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from jobs.webhooks import (
    JITTER,
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    Outcome,
    classify,
    encode_payload,
    new_secret,
    retry_delay,
    signed_headers,
)


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_receivers_verify_our_signature_with_the_library() -> None:
    secret, body = new_secret(), encode_payload({"type": "export.completed", "data": {"name": "Zoë"}})
    headers = signed_headers(secret, msg_id="evt_1", timestamp=datetime.now(UTC), body=body)
    assert Webhook(secret).verify(body.encode(), headers) == {"type": "export.completed", "data": {"name": "Zoë"}}


def test_another_secret_or_a_changed_body_does_not_verify() -> None:
    body = encode_payload({"n": 1})
    headers = signed_headers(new_secret(), msg_id="evt_2", timestamp=datetime.now(UTC), body=body)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body.encode(), headers)


def test_a_non_utc_timestamp_signs_the_instant_it_names() -> None:
    # Webhook.sign replaces the zone instead of converting; signed_headers converts first.
    now = datetime.now(UTC)
    secret, body = new_secret(), encode_payload({})
    headers = signed_headers(secret, msg_id="e", timestamp=now.astimezone(timezone(timedelta(hours=2))), body=body)
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    Webhook(secret).verify(body, headers)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signed_headers(new_secret(), msg_id="e", timestamp=datetime.now(), body="{}")  # naive on purpose


def test_payload_encoding_is_canonical() -> None:
    assert encode_payload({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.RETRYABLE),
        (429, Outcome.RETRYABLE),
        (500, Outcome.RETRYABLE),
        (503, Outcome.RETRYABLE),
        (301, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (410, Outcome.PERMANENT),
        (413, Outcome.PERMANENT),
    ],
)
def test_classify(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_nominal_schedule_is_the_documented_one() -> None:
    middle = Fixed(0.5)  # factor exactly 1
    delays = [retry_delay(n, middle) for n in range(1, MAX_ATTEMPTS)]
    assert [d.total_seconds() for d in delays] == [5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800]
    assert sum(delays, timedelta()) == timedelta(hours=23, minutes=42, seconds=35)
    assert MAX_ATTEMPTS == 11


@given(attempt=st.integers(1, MAX_ATTEMPTS - 1), draw=st.floats(0, 1, exclude_max=True))
def test_jitter_stays_within_bounds(attempt: int, draw: float) -> None:
    nominal = RETRY_SCHEDULE[attempt - 1]
    delay = retry_delay(attempt, Fixed(draw))
    assert nominal * (1 - JITTER) <= delay < nominal * (1 + JITTER) + timedelta(microseconds=1)


@given(attempt=st.integers(1, MAX_ATTEMPTS - 2), seed=st.integers())
def test_a_later_retry_never_waits_much_less(attempt: int, seed: int) -> None:
    rng = random.Random(seed)
    # Nominal delays never decrease, so even with opposite jitter the next wait is ≥ 2/3 of this one.
    assert retry_delay(attempt + 1, rng) >= retry_delay(attempt, rng) * (1 - JITTER) / (1 + JITTER)


def test_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    assert len({retry_delay(3, rng) for _ in range(50)}) > 40


@pytest.mark.parametrize("attempt", [0, -1, MAX_ATTEMPTS, MAX_ATTEMPTS + 5])
def test_no_delay_outside_the_schedule(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt must be in"):
        retry_delay(attempt, random.Random(0))
