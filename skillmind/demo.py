"""`skillmind demo`: seed the demo tenant — a year of history shaped like the product
page — then run the pipeline and the API in one process (logs in one place) until
interrupted, printing a sign-in link to the product page for each role."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from api.auth import mint_token
from skillmind.demo_tenant import DemoShape, demo_history
from skillmind.settings import Settings

TENANT = "demo"
# Sign-in links carry the token in the URL fragment: short-lived, and never in a server log.
LINK_TTL = timedelta(hours=2)
CALLERS = (
    ("platform_admin", "root"),
    ("company_admin", "admin-1"),
    ("program_owner", f"{TENANT}-owner-0"),
    ("manager", f"{TENANT}-m0"),
    ("mentor", f"{TENANT}-mentor0"),
    ("learner", f"{TENANT}-l0"),
    ("auditor", "auditor-1"),
)


def _log_holds_tenant(settings: Settings) -> bool:
    """Anything in the tenant's log partition: a history already written (perhaps not yet folded)."""
    from confluent_kafka import Consumer, TopicPartition

    from events.kafka import consumer_config
    from events.partitioning import partition_for
    from events.topics import topic_name

    consumer = Consumer(consumer_config(settings.kafka, group_id="skillmind-demo-probe"))
    try:
        partition = TopicPartition(topic_name(settings.kafka, "log"), partition_for(TENANT, settings.kafka.partitions))
        low, high = consumer.get_watermark_offsets(partition, timeout=10)
        return high > low
    finally:
        consumer.close()


def _with_progress(events: Iterable[dict[str, Any]], days: int) -> Iterator[dict[str, Any]]:
    """The events, advancing a progress bar by one step per day of history."""
    with click.progressbar(length=days, label="Seeding a year of history", show_pos=True) as bar:
        current = None
        for event in events:
            day = event["time"][:10]
            if day != current and current is not None:
                bar.update(1)
            current = day
            yield event
        bar.update(1)


def seed_demo(settings: Settings) -> None:
    """Write the demo tenant's year straight into the log, once.

    The history is an import of a year that happened before the pipeline ran, so it goes
    through the direct log writer (``skillmind.workload.write_log``): each record is
    validated by the ingest validator, numbered and chained by the sequencer's own rules,
    minutes instead of the inbox's hour. Everything after it — the scheduler's ticks, the
    API's mutations, ingested events — goes through the inbox and the sequencer, which
    picks the chain up from the log. The two paths cannot interleave for one tenant (both
    would number from the same sequence), hence the import first and only once."""
    from jobs.scheduler import known_tenants
    from skillmind.workload import write_log

    if TENANT in known_tenants(settings) or _log_holds_tenant(settings):
        click.echo(f"\nTenant '{TENANT}' was seeded on an earlier run; its history stays as it is.\n")
        return
    shape = DemoShape(tenant=TENANT, end=datetime.now(UTC).date() - timedelta(days=1))
    written = write_log(settings, _with_progress(demo_history(shape), shape.days))
    click.echo(
        f"\nSeeded tenant '{TENANT}': {written:,} log records ({shape.programs} programs, "
        f"{shape.learners:,} learners, {shape.days} days, ticks for the last {shape.tick_days}). "
        "The pipeline is folding them now: scores appear in a few minutes.\n"
    )


def print_links(settings: Settings) -> None:
    base = f"http://{settings.api.host}:{settings.api.port}"
    click.echo(f"Sign in to the product page (links valid {LINK_TTL.total_seconds() / 3600:.0f} h):\n")
    for role, user in CALLERS:
        token = mint_token(settings.api, tenant=TENANT, user=user, roles=[role], ttl=LINK_TTL)
        click.echo(f"# {role} ({user})\n{base}/app/#token={token}\n")
    admin = mint_token(settings.api, tenant=TENANT, user="admin-1", roles=["company_admin"], ttl=LINK_TTL)
    click.echo("# the same numbers as JSON, and a settings change through the log")
    click.echo(f"curl -s '{base}/v1/overview' -H 'Authorization: Bearer {admin}'")
    click.echo(
        f"curl -s -X PUT '{base}/v1/tenants/{TENANT}/settings' -H 'Authorization: Bearer {admin}' "
        "-H 'Content-Type: application/json' -d '{\"target\": 80}'\n"
    )
    click.echo(
        f"OpenAPI: {base}/docs    Verify the chain: .venv/bin/skillmind audit verify --tenant {TENANT}"
        "    Stop: Ctrl-C\n"
    )


def _read_models_current(settings: Settings) -> None:
    """The demo rebuilds read models left by an older version instead of refusing to start."""
    import psycopg

    from projections.errors import ReadModelOutdated
    from projections.rebuild import rebuild
    from projections.runner import ensure_schema

    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        try:
            ensure_schema(conn)
            return
        except ReadModelOutdated:
            click.echo("Read models are from an older version: rebuilding them from the log ...")
    rebuild(settings)


def run_demo(settings: Settings) -> None:
    import uvicorn

    from api.app import create_app
    from skillmind.supervisor import RUNNERS, run_components

    _read_models_current(settings)
    seed_demo(settings)
    print_links(settings)

    stop = threading.Event()
    pipeline = threading.Thread(
        target=run_components,
        args=(settings, tuple(RUNNERS), "demo", stop),
        name="pipeline",
        daemon=True,
    )
    pipeline.start()
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.api.host,
            port=settings.api.port,
            log_config=None,
            access_log=False,
        )
    finally:
        stop.set()
        pipeline.join(timeout=30)
