"""`skillmind demo`: seed a small demo tenant through the inbox, then run the pipeline and
the API in one process (logs in one place) until interrupted."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from api.auth import mint_token
from events.inbox import InboxWriter
from skillmind.settings import Settings
from skillmind.workload import Shape, history

TENANT = "demo"


def demo_events(today: date) -> list[dict[str, Any]]:
    """Eight weeks of plausible history ending yesterday, with a recompute tick per day."""
    return list(
        history(
            Shape(
                tenant=TENANT,
                programs=12,
                cohorts_per_program=2,
                learners=3000,
                days=56,
                end=today - timedelta(days=1),
            )
        )
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
    from jobs.scheduler import known_tenants
    from skillmind.supervisor import RUNNERS, run_components

    _read_models_current(settings)
    if TENANT in known_tenants(settings):
        # Seeded on an earlier run: a second history would overlap the first.
        click.echo(f"\nTenant '{TENANT}' was seeded on an earlier run; its history stays as it is.\n")
    else:
        seeded = demo_events(datetime.now(UTC).date())
        writer = InboxWriter(settings.kafka)
        writer.append(seeded)
        writer.close()
        click.echo(
            f"\nSeeded tenant '{TENANT}': {len(seeded):,} events (12 programs, 3,000 learners, "
            "8 weeks). The pipeline is folding them now (about two minutes).\n"
        )
    base = f"http://{settings.api.host}:{settings.api.port}"
    callers = [
        ("platform_admin", "root"),
        ("company_admin", "admin-1"),
        ("program_owner", f"{TENANT}-owner-0"),
        ("manager", f"{TENANT}-m0"),
        ("mentor", f"{TENANT}-mentor0"),
        ("learner", f"{TENANT}-l0"),
    ]
    for role, user in callers:
        token = mint_token(settings.api, tenant=TENANT, user=user, roles=[role])
        click.echo(f"# {role} ({user})")
        click.echo(f"curl -s '{base}/v1/reports/engagement?group_by=cohort' -H 'Authorization: Bearer {token}'\n")
    admin = mint_token(settings.api, tenant=TENANT, user="admin-1", roles=["company_admin"])
    click.echo("# a CSV export, the overview tiles, and a settings change through the log")
    click.echo(f"curl -s '{base}/v1/reports/engagement?format=csv' -H 'Authorization: Bearer {admin}'")
    click.echo(f"curl -s '{base}/v1/overview' -H 'Authorization: Bearer {admin}'")
    click.echo(
        f"curl -s -X PUT '{base}/v1/tenants/{TENANT}/settings' -H 'Authorization: Bearer {admin}' "
        "-H 'Content-Type: application/json' -d '{\"target\": 80}'\n"
    )
    click.echo(
        f"OpenAPI: {base}/docs    Verify the chain: .venv/bin/skillmind audit verify --tenant {TENANT}"
        "    Stop: Ctrl-C\n"
    )

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
