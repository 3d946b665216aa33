"""Exports and notification fan-out, each against a baseline measured in the same run.

- CSV export of N learner rows (the worker's own code path: the report's query through a
  server-side cursor, the product's CSV writer, SHA-256, a spool file) against
  ``COPY (the same query) TO STDOUT`` — PostgreSQL writing the same rows as text;
- fan-out: webhook deliveries per second from the outbox dispatcher to a local Standard
  Webhooks receiver, against plain signed POSTs to it in a loop.

Run: ``.venv/bin/python -m bench.bench_exports --rows 1000000 --deliveries 500``.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid

import httpx
import psycopg
from psycopg import sql

from api.auth import Principal
from api.exportquery import export_query
from bench.common import Rate, report, seed_learner_days, timed
from jobs.exportfiles import HashingWriter, write_csv
from jobs.exports import _tuple_rows
from jobs.outbox import Dispatcher, enqueue
from jobs.webhooks import new_secret, send_webhook
from projections.database import create_database, drop_database
from projections.runner import ensure_schema
from schemas.v1 import ExportParams
from skillmind.logging import configure_logging
from skillmind.settings import Settings, load_settings
from tests.integration.webhook_receiver import WebhookReceiver  # a real Standard Webhooks receiver


def bench_csv(settings: Settings, rows: int) -> list[Rate]:
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        ensure_schema(conn)
        seed_learner_days(settings.postgres.conninfo(), "big", rows)
        principal = Principal("admin", "big", frozenset({"company_admin"}))
        q = export_query(conn, principal, "csv", ExportParams(group_by="learner"))

        def copy_out() -> None:
            with conn.cursor() as cur, cur.copy(sql.SQL("copy ({}) to stdout").format(q.query), q.params) as copy:
                for _ in copy:
                    pass

        def export() -> None:
            with tempfile.TemporaryFile() as spool:
                write_csv(_tuple_rows(conn, q, numeric_as_text=True), q.columns, HashingWriter(spool))

        baseline = timed(f"COPY (the same query) TO STDOUT, {rows:,} rows", rows, copy_out)
        return [baseline, timed("CSV export (cursor → CSV writer → SHA-256 → spool)", rows, export)]


def bench_fanout(settings: Settings, deliveries: int) -> list[Rate]:
    secret = new_secret()
    with WebhookReceiver(secret) as receiver, psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        body = {"type": "export.completed", "data": {"export_id": "x"}}
        with httpx.Client() as http:
            from datetime import UTC, datetime

            baseline = timed(
                "signed POSTs in a loop (no outbox)",
                deliveries,
                lambda: [
                    send_webhook(
                        receiver.url,
                        secret,
                        msg_id=f"b{n}",
                        timestamp=datetime.now(UTC),
                        payload=body,
                        timeout_s=10,
                        client=http,
                    )
                    for n in range(deliveries)
                ],
            )
        conn.execute("insert into webhook_secrets values ('t', 'wh', %s)", [secret])
        conn.execute(
            "insert into readmodel.webhooks (tenant_id, webhook_id, url, event_types, state) "
            "values ('t', 'wh', %s, '{export.completed}', 'active')",
            [receiver.url],
        )
        with conn.cursor() as cur:
            for n in range(deliveries):
                enqueue(cur, "webhook.send", f"d{n}", {"webhook_id": "wh", "body": body}, tenant="t", recipient="wh")
        from jobs.notify import notifications_dispatcher

        dispatcher: Dispatcher = notifications_dispatcher(settings)

        def drain() -> None:
            while dispatcher.run_once():
                pass

        rate = timed("outbox → webhook deliveries (claim, sign, POST, record)", deliveries, drain)
        assert len(receiver.accepted) == 2 * deliveries
        return [baseline, rate]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=500)
    args = parser.parse_args()
    configure_logging("WARNING")
    base = load_settings()
    name = create_database(base.postgres, f"bench_{uuid.uuid4().hex[:8]}")
    settings = base.model_copy(
        update={
            "postgres": base.postgres.model_copy(update={"dbname": name}),
            "api": base.api.model_copy(update={"webhook_private_targets": True}),  # the receiver is on loopback
        }
    )
    try:
        csv_rates = bench_csv(settings, args.rows)
        print(report(csv_rates[1:], csv_rates[0]), end="\n\n")
        fan = bench_fanout(settings, args.deliveries)
        print(report(fan[1:], fan[0]))
    finally:
        drop_database(base.postgres, name)


if __name__ == "__main__":
    main()
