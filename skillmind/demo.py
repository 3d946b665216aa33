"""`skillmind demo`: seed a small demo tenant through the inbox, then run the pipeline and
the API in one process (logs in one place) until interrupted."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import click

from api.auth import mint_token
from events.inbox import InboxWriter
from schemas.examples import cloud_event
from skillmind.settings import Settings

TENANT = "demo"


def demo_events(now: datetime) -> list[dict]:
    """A small, fixed history. Ids are stable, so seeding twice adds nothing to the log."""

    def event(n: str, kind: str, data: dict, when: datetime, actor: str = "seed") -> dict:
        return cloud_event(
            kind, data, tenant=TENANT, event_id=f"demo-{n}", time=when, source="/skillmind/demo", actor=actor
        )

    start = (now - timedelta(days=14)).replace(hour=9, minute=0, second=0, microsecond=0)
    events = [
        event("tenant", "tenant.created", {"tenant_id": TENANT, "name": "Demo Corp"}, start),
        event(
            "program",
            "program.created",
            {"program_id": "p-lead", "name": "Leadership", "owner_id": "owner-1", "pace_days": 7},
            start,
        ),
        event(
            "cohort",
            "cohort.created",
            {"cohort_id": "c-1", "program_id": "p-lead", "name": "Cohort 1"},
            start,
        ),
    ]
    for i in range(1, 6):
        learner = f"learner-{i}"
        events += [
            event(
                f"user-{i}",
                "user.registered",
                {
                    "user_id": learner,
                    "display_name": f"Learner {i}",
                    "email": f"{learner}@demo.example",
                    "roles": ["learner"],
                },
                start,
            ),
            event(f"enrol-{i}", "learner.enrolled", {"learner_id": learner, "cohort_id": "c-1"}, start),
        ]
        for day in range(0, 14, i):
            events.append(
                event(
                    f"signin-{i}-{day}",
                    "learner.signed_in",
                    {"learner_id": learner},
                    start + timedelta(days=day, hours=i),
                )
            )
    return events


def run_demo(settings: Settings) -> None:
    import uvicorn

    from api.app import create_app
    from skillmind.runner import run_components

    writer = InboxWriter(settings.kafka)
    seeded = demo_events(datetime.now(UTC))
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
    click.echo("  .venv/bin/skillmind audit verify --tenant demo\n")
    click.echo(f"  OpenAPI: {base}/docs      Stop: Ctrl-C\n")

    stop = threading.Event()
    pipeline = threading.Thread(
        target=run_components, args=(settings, ("sequencer",), "demo", stop), name="pipeline", daemon=True
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
