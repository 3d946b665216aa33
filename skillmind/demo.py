"""`skillmind demo`: seed a small demo tenant through the inbox, then run the pipeline and
the API in one process (logs in one place) until interrupted."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import click

from api.auth import mint_token
from events.inbox import InboxWriter
from skillmind.settings import Settings
from skillmind.workload import Shape, history

TENANT = "demo"


def demo_events(today: date) -> list[dict]:
    """Eight weeks of plausible history ending yesterday, with a recompute tick per day.
    Ids are stable for a given day, so seeding twice adds nothing to the log."""
    return list(
        history(
            Shape(
                tenant=TENANT,
                programs=4,
                cohorts_per_program=2,
                learners=300,
                days=56,
                end=today - timedelta(days=1),
            )
        )
    )


def run_demo(settings: Settings) -> None:
    import uvicorn

    from api.app import create_app
    from skillmind.runner import run_components

    writer = InboxWriter(settings.kafka)
    seeded = demo_events(datetime.now(UTC).date())
    writer.append(seeded)
    writer.close()

    base = f"http://{settings.api.host}:{settings.api.port}"
    admin = mint_token(settings.api, tenant=TENANT, user="admin-1", roles=["company_admin"])
    click.echo(f"\nSeeded tenant '{TENANT}' ({len(seeded)} events; re-seeding adds nothing).")
    click.echo("Try:\n")
    click.echo(
        f"  curl -s -X POST {base}/v1/events -H 'Authorization: Bearer {admin}' \\\n"
        "    -H 'Content-Type: application/cloudevents+json' \\\n"
        f'    -d \'{{"specversion":"1.0","id":"my-first-event","source":"/curl",'
        f'"type":"learner.signed_in","time":"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",'
        f'"tenantid":"{TENANT}","data":{{"learner_id":"learner-1"}}}}\'\n'
    )
    click.echo("  .venv/bin/skillmind audit verify --tenant demo")
    click.echo(
        f"  psql '{settings.postgres.conninfo()}' -c 'select day, count(*), "
        "percentile_cont(0.5) within group (order by score) from readmodel.daily_scores "
        "group by day order by day desc limit 8'\n"
    )
    click.echo(f"  OpenAPI: {base}/docs      Stop: Ctrl-C\n")

    stop = threading.Event()
    pipeline = threading.Thread(
        target=run_components,
        args=(settings, ("sequencer", "projections", "scheduler"), "demo", stop),
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
