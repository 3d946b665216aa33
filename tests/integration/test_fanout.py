"""Issue 10: exactly one delivery per (event, channel, recipient), whatever happens to the
workers. 50 exports are requested while the export and notification workers (one
`skillmind run exports notifications` process) are SIGKILLed again and again; the webhook
receiver fails its first requests. In the end: every export ready once, Mailpit holds one
mail per export, the receiver accepted one signed delivery per export, the bell one row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from standardwebhooks import Webhook

from skillmind.settings import Settings
from tests.integration.logtools import log_records
from tests.integration.mailbox import messages_to, unique_address
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    bearer,
    running_pipeline,
    seed_history,
    wait_until,
)
from tests.integration.webhook_receiver import WebhookReceiver

EXPORTS = 50
KILLS = 6


def _workers(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        "SKILLMIND_S3__EXPORTS_BUCKET": settings.s3.exports_bucket,
        "SKILLMIND_OUTBOX__LEASE_S": "5",  # a killed worker's claims come back quickly
        "SKILLMIND_API__WEBHOOK_PRIVATE_TARGETS": "true",  # the receiver runs on loopback
    }
    command = [sys.executable, "-m", "skillmind.cli", "run", "exports", "notifications", "--instance", "w1"]
    log = open(os.environ.get("SKILLMIND_TEST_WORKER_LOG", os.devnull), "ab")  # noqa: SIM115
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def _diagnose(settings: Settings) -> bool:
    """Print what the outbox and the workers' quarantine hold (shown when a wait fails)."""
    import psycopg

    with psycopg.connect(settings.postgres.conninfo()) as conn:
        print(conn.execute("select kind, state, count(*), max(last_error) from outbox group by 1, 2").fetchall())
        print(conn.execute("select worker, rule, reason from worker_quarantine limit 5").fetchall())
        print(conn.execute("select * from readmodel.notification_preferences").fetchall())
        print(conn.execute("select user_id, email from readmodel.users where user_id = 'admin-1'").fetchall())
    return False


def test_sigkilled_workers_deliver_each_notification_once(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    address = unique_address("admin")
    with (
        running_pipeline(settings, ("sequencer", "projections", "scheduler")),
        api_client(settings) as client,
        WebhookReceiver("whsec_" + "A" * 43, fail_first=3) as receiver,
    ):
        seed_history(client, settings)
        admin = bearer(settings, "acme", "admin-1", "company_admin")
        user = {"user_id": "admin-1", "display_name": "Ada Admin", "email": address, "roles": ["company_admin"]}
        # Opting in before the directory has an address is accepted, with a warning saying so.
        early = client.put("/v1/me/notification-preferences", headers=admin, json={"email": True})
        assert early.status_code == 202 and "no e-mail address" in early.json()["warnings"][0]
        assert client.get("/v1/me", headers=admin).json()["email_on_record"] is False
        assert client.post("/v1/users", headers=admin, json=user).status_code == 202
        wait_until("the address on record", lambda: client.get("/v1/me", headers=admin).json()["email_on_record"])
        opted = client.put("/v1/me/notification-preferences", headers=admin, json={"email": True})
        assert opted.status_code == 202 and opted.json()["warnings"] == []
        hook = client.post(
            "/v1/webhooks", headers=admin, json={"url": receiver.url, "event_types": ["export.completed"]}
        )
        assert hook.status_code == 201, hook.text
        receiver.verifier = Webhook(hook.json()["secret"])

        rng = random.Random(7)
        workers = _workers(settings)
        ids = []
        for n in range(EXPORTS):
            response = client.post("/v1/exports", headers=admin, json={"format": "csv", "group_by": "tenant"})
            assert response.status_code == 202, response.text
            ids.append(response.json()["export_id"])
            if n % (EXPORTS // KILLS) == EXPORTS // KILLS - 1:
                time.sleep(rng.uniform(0.5, 2.5))
                workers.send_signal(signal.SIGKILL)
                workers.wait()
                workers = _workers(settings)
        try:

            def all_ready() -> bool:
                items = client.get("/v1/exports", headers=admin).json()["items"]
                return sum(1 for e in items if e["export_id"] in ids and e["status"] == "ready") == EXPORTS

            wait_until("every export ready", all_ready, timeout_s=300)
            wait_until(
                "one mail per export",
                lambda: len(messages_to(settings.smtp, address)) >= EXPORTS or _diagnose(settings),
                120,
            )
            wait_until("one delivery per export", lambda: len(receiver.accepted) >= EXPORTS, 120)
            time.sleep(3)  # anything sent twice would arrive now
        finally:
            workers.send_signal(signal.SIGTERM)
            workers.wait(60)

        completed = Counter(r["data"]["export_id"] for r in log_records(settings) if r["type"] == "export.completed")
        assert {i: completed[i] for i in ids} == dict.fromkeys(ids, 1)
        mails = messages_to(settings.smtp, address)
        assert len(mails) == EXPORTS
        accepted = receiver.accepted
        assert len(accepted) == EXPORTS and receiver.tally.rejected == 0
        assert sorted(d.payload["data"]["export_id"] for d in accepted) == sorted(ids)
        assert receiver.tally.failed == 3  # the injected failures were retried, not lost
        bell = client.get("/v1/notifications", headers=admin, params={"limit": 100}).json()
        assert bell["unread"] == EXPORTS
        assert sorted(n["export_id"] for n in bell["items"]) == sorted(ids)
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l4")


def test_an_endpoint_failing_for_a_day_is_disabled(pipeline_settings: Settings) -> None:
    import psycopg
    import pytest

    from jobs.notify import WebhookEffect
    from jobs.outbox import RetryableError
    from projections.runner import ensure_schema

    settings = pipeline_settings
    with (
        WebhookReceiver("whsec_" + "B" * 43, fail_first=100) as receiver,
        psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn,
    ):
        ensure_schema(conn)
        conn.execute("insert into webhook_secrets values ('acme', 'wh-1', 'whsec_' || repeat('B', 43))")
        conn.execute(
            "insert into readmodel.webhooks (tenant_id, webhook_id, url, event_types, state) "
            "values ('acme', 'wh-1', %s, '{export.completed}', 'active')",
            [receiver.url],
        )
        # A delivery first tried a day and a minute ago, still failing.
        conn.execute(
            "insert into outbox (kind, key, tenant_id, recipient, payload, attempts, created_at) "
            "values ('webhook.send', 'e1:webhook:wh-1', 'acme', 'wh-1', '{}', 5, now() - interval '1 day 1 minute')"
        )
        job = {"_key": "e1:webhook:wh-1", "_tenant": "acme", "webhook_id": "wh-1", "body": {"type": "export.completed"}}
        with pytest.raises(RetryableError):
            WebhookEffect(settings)(job)
    disabled = [r for r in log_records(settings, "inbox") if r["type"] == "webhook.disabled"]
    assert [r["data"]["webhook_id"] for r in disabled] == ["wh-1"]
    assert disabled[0]["data"]["reason"].startswith("failing since")
