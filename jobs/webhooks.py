"""The webhook channel: Standard Webhooks (https://www.standardwebhooks.com) signing, one delivery
attempt, and the retry schedule.

Every request is a JSON POST with the three headers of the specification:
``webhook-id`` (the idempotency key: the same for every attempt of one delivery, so
receivers drop duplicates), ``webhook-timestamp`` (integer seconds since the Unix
epoch, of this attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``). Signatures are made by the ``standardwebhooks``
library, the code receivers verify with, so the two cannot drift apart.

Redirects are never followed: a subscription names the receiver itself, and
following one would let it point our requests anywhere.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from math import floor
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from standardwebhooks import Webhook

# The delivery schedule is the outbox's (one schedule for every effect), re-exported here.
from jobs.outbox import JITTER as JITTER
from jobs.outbox import MAX_ATTEMPTS as MAX_ATTEMPTS
from jobs.outbox import RETRY_SCHEDULE as RETRY_SCHEDULE
from jobs.outbox import retry_delay as retry_delay

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
USER_AGENT = "SkillMind-Webhooks/1"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # network error, timeout, 408, 429, 5xx: try again on the schedule
    PERMANENT = "permanent"  # any other 4xx, 3xx: the same request would fail again


@dataclass(frozen=True)
class WebhookResult:
    """What one attempt came to: the outcome, the receiver's HTTP status (None without a
    response) and a short reason for the delivery log, e.g. ``HTTP 503`` or ``timeout``."""

    outcome: Outcome
    status_code: int | None
    reason: str

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    @property
    def retryable(self) -> bool:
        return self.outcome is Outcome.RETRYABLE


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 32 random bytes (Standard Webhooks' format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def encode_payload(payload: dict[str, Any]) -> str:
    """The JSON body exactly as sent and signed: compact, keys sorted, UTF-8 text kept as is."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def signed_headers(secret: str, *, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent at ``timestamp``.

    ``timestamp`` must be timezone-aware (ValueError otherwise). It is converted to
    UTC here because ``Webhook.sign`` replaces the zone with UTC rather than
    converting, which would sign another instant than the header names.
    """
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    utc = timestamp.astimezone(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(utc.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, utc, body),
    }


def classify(status_code: int) -> Outcome:
    """The outcome of an HTTP response: 2xx delivered; 408, 429 and 5xx retryable; else permanent."""
    if 200 <= status_code <= 299:
        return Outcome.DELIVERED
    if status_code in (408, 429) or status_code >= 500:
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


def url_refusal(url: str, allow_private: bool) -> str | None:
    """Why a webhook URL may not be called from inside our network, or None.

    Literal loopback, private, link-local (cloud metadata), multicast and reserved addresses
    and ``localhost`` are refused unless ``api.webhook_private_targets`` is on; DNS names are
    not resolved here — production deployments route webhooks through an egress proxy."""
    if allow_private:
        return None
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError as err:  # e.g. a malformed IP literal
        return f"not a URL: {err}"
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine"
    address = ip_literal(host)
    if address is None:
        return None
    if not is_public(address):
        return f"{host} is not a public address ({address})"
    return None


# What HTTP clients and the C library read as an IPv4 address besides the dotted quad:
# 2130706433, 0x7f000001, 0177.0.0.1, 127.1, 0 (inet_aton's legacy forms).
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` names literally (in any form a client would connect to), or
    None for a DNS name. IPv4-mapped IPv6 addresses are their IPv4 address."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not loopback, private, link-local (cloud metadata), multicast, reserved or unspecified."""
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def send_webhook(
    url: str,
    secret: str,
    *,
    msg_id: str,
    timestamp: datetime,
    payload: dict[str, Any],
    timeout_s: float,
    client: httpx.Client | None = None,
) -> WebhookResult:
    """POST ``payload`` as signed JSON to ``url`` once; never raises for the receiver's failures.

    ``msg_id`` is the delivery's idempotency key (the same on every attempt);
    ``timestamp`` the time of this attempt (aware). ``timeout_s`` bounds connecting,
    writing and the wait for the response status, each. The response body is not
    read. Pass ``client`` to reuse connections across deliveries. ValueError for a
    naive ``timestamp``.
    """
    body = encode_payload(payload)
    headers = {
        **signed_headers(secret, msg_id=msg_id, timestamp=timestamp, body=body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    result = _post(client, url, body.encode(), headers, timeout_s)
    # Log the host only: a URL's path or query may carry the receiver's own token.
    log.info("webhook.attempt", msg_id=msg_id, host=urlsplit(url).hostname, **_fields(result))
    return result


def _fields(result: WebhookResult) -> dict[str, object]:
    return {"outcome": str(result.outcome), "status_code": result.status_code, "reason": result.reason}


def _post(
    client: httpx.Client | None, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> WebhookResult:
    own = client is None
    http = httpx.Client() if client is None else client
    try:
        # follow_redirects per request: a shared client configured otherwise must not override it.
        with http.stream(
            "POST", url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False
        ) as response:
            status = response.status_code
        return WebhookResult(classify(status), status, f"HTTP {status}")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as err:
        return WebhookResult(Outcome.PERMANENT, None, f"bad URL: {err}"[:200])
    except httpx.TimeoutException as err:
        return WebhookResult(Outcome.RETRYABLE, None, f"timeout: {type(err).__name__}")
    except httpx.TransportError as err:
        return WebhookResult(Outcome.RETRYABLE, None, f"network: {type(err).__name__}: {err}"[:200])
    finally:
        if own:
            http.close()
