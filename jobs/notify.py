"""Notification fan-out: one job per export outcome, three channels, exactly one delivery
per (event, channel, recipient).

- **in-app bell**: a read model (``projections/outcomes.py``), keyed by the event's
  sequence and the recipient — folded exactly once like every read model;
- **e-mail**, if the requester opted in (``notification.preferences_changed``);
- **webhooks** the tenant subscribed to the event type, signed per Standard Webhooks.

The log worker turns each ``export.completed`` / ``export.failed`` into outbox rows keyed
``<event id>:<channel>:<recipient>`` in the transaction that records its offset, so a
crash or a second run enqueues nothing twice; the dispatcher sends them with back-off.
The key travels as the e-mail's Message-ID and the webhook's ``webhook-id``: a delivery
repeated after a crash between sending and recording is recognised by the receiver.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import structlog

from events.inbox import InboxWriter
from jobs.exports import append_system_event
from jobs.logworker import LogWorker
from jobs.outbox import Dispatcher, PermanentError, RetryableError, enqueue
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
EMAIL, WEBHOOK = "email.send", "webhook.send"
TYPES = frozenset({"export.completed", "export.failed"})
DISABLE_AFTER = timedelta(days=1)  # an endpoint failing this long is switched off


def _message(record: Mapping[str, Any]) -> tuple[str, str]:
    data = record["data"]
    if record["type"] == "export.completed":
        subject = f"Your SkillMind export {data['export_id']} is ready"
        text = (
            f"Your {data['content_type']} export {data['export_id']} is ready: {data['rows']} rows, "
            f"{data['size_bytes']} bytes, kept until {data['expires_at']}.\n"
            "Open SkillMind to download it (links are issued on request and expire)."
        )
    else:
        subject = f"Your SkillMind export {data['export_id']} failed"
        text = f"Your export {data['export_id']} could not be made: {data['reason']}"
    return subject, text


def fan_out(cur: psycopg.Cursor, record: dict[str, Any]) -> None:
    """The log worker's handler: queue one e-mail and one call per subscribed webhook."""
    tenant, data, event_id = record["tenantid"], record["data"], record["id"]
    user = data["requested_by"]
    row = cur.execute(
        "select u.email from readmodel.users u join readmodel.notification_preferences p "
        "on p.tenant_id = u.tenant_id and p.user_id = u.user_id "
        "where u.tenant_id = %s and u.user_id = %s and p.email",
        [tenant, user],
    ).fetchone()
    if row and row[0]:
        subject, text = _message(record)
        key = f"{event_id}:email:{user}"
        enqueue(cur, EMAIL, key, {"to": row[0], "subject": subject, "text": text}, tenant=tenant, recipient=user)
    hooks = cur.execute(
        "select webhook_id from readmodel.webhooks where tenant_id = %s and state = 'active' and %s = any(event_types)",
        [tenant, record["type"]],
    ).fetchall()
    body = {"type": record["type"], "timestamp": record["appendedat"], "data": {**data, "tenant_id": tenant}}
    for (webhook_id,) in hooks:
        key = f"{event_id}:webhook:{webhook_id}"
        enqueue(cur, WEBHOOK, key, {"webhook_id": webhook_id, "body": body}, tenant=tenant, recipient=webhook_id)


class EmailEffect:
    """Send one e-mail through SMTP; the outbox key is its Message-ID."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, job: Mapping[str, Any]) -> None:
        from jobs.mailer import DeliveryError, send_email

        try:
            send_email(
                self.settings.smtp,
                # The key may hold '@' and be long: its digest is a valid, stable Message-ID.
                message_id=hashlib.sha256(job["_key"].encode()).hexdigest(),
                to=job["to"],
                subject=job["subject"],
                text=job["text"],
            )
        except DeliveryError as err:
            raise (RetryableError if err.retryable else PermanentError)(str(err)) from err


class WebhookEffect:
    """POST one Standard Webhooks message; disable the endpoint after a day of failures."""

    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.settings, self.database = settings, database
        self.inbox = InboxWriter(settings.kafka)
        self._conn: psycopg.Connection | None = None
        self._http: httpx.Client | None = None

    def _connections(self) -> tuple[psycopg.Connection, httpx.Client]:
        """Kept across deliveries: a connection and an HTTP client per delivery cost more than the POST."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.settings.postgres.conninfo(self.database), autocommit=True)
        if self._http is None:
            self._http = httpx.Client(follow_redirects=False)
        return self._conn, self._http

    def __call__(self, job: Mapping[str, Any]) -> None:
        from jobs.webhooks import send_webhook, url_refusal

        tenant, webhook_id = job["_tenant"], job["webhook_id"]
        conn, http = self._connections()
        hook = conn.execute(
            "select w.url, w.state, s.secret from readmodel.webhooks w join webhook_secrets s "
            "using (tenant_id, webhook_id) where w.tenant_id = %s and w.webhook_id = %s",
            [tenant, webhook_id],
        ).fetchone()
        if hook is None or hook[1] != "active":
            raise PermanentError(f"webhook {webhook_id} is {hook[1] if hook else 'unknown'}")
        url, _, secret = hook
        # Checked again at delivery: a subscription made before a rule existed must not reach
        # inside the network either.
        refusal = url_refusal(url, self.settings.api.webhook_private_targets)
        if refusal:
            raise PermanentError(f"not delivered: {refusal} (rule private_address)")
        timestamp = datetime.now(UTC)  # of this attempt: receivers refuse stale timestamps
        result = send_webhook(
            url, secret, msg_id=job["_key"], timestamp=timestamp, payload=job["body"], timeout_s=10, client=http
        )
        if result.delivered:
            return
        self._maybe_disable(conn, tenant, webhook_id)
        error = RetryableError if result.retryable else PermanentError
        raise error(result.reason, result.status_code)

    def _maybe_disable(self, conn: psycopg.Connection, tenant: str, webhook_id: str) -> None:
        since = conn.execute(
            "select min(created_at) from outbox where kind = %s and tenant_id = %s and recipient = %s "
            "and state = 'pending' and attempts > 0",
            [WEBHOOK, tenant, webhook_id],
        ).fetchone()[0]  # type: ignore[index]
        if since and datetime.now(UTC) - since > DISABLE_AFTER:
            reason = f"failing since {since.isoformat()}"
            data = {"webhook_id": webhook_id, "reason": reason}
            append_system_event(self.inbox, tenant, "webhook.disabled", data, f"{webhook_id}:disabled")
            log.warning("webhook.disabled", tenant=tenant, webhook_id=webhook_id, reason=reason)


def notifications_worker(settings: Settings, database: str | None = None) -> LogWorker:
    return LogWorker("notifications", settings, TYPES, fan_out, database=database)


def notifications_dispatcher(settings: Settings, database: str | None = None) -> Dispatcher:
    return Dispatcher(
        settings, {EMAIL: EmailEffect(settings), WEBHOOK: WebhookEffect(settings, database)}, database=database
    )
