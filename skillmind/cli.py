"""`skillmind`: the single entry point for operators."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from events.errors import LogError
from jobs.objectstore import ObjectStoreError
from projections.errors import ProjectionError
from skillmind import services
from skillmind.logging import configure_logging
from skillmind.settings import Settings, load_settings

COMPONENTS = {"sequencer", "projections", "scheduler", "exports", "notifications"}

# Errors whose message already tells the operator what to do: print it, no traceback.
OPERATOR_ERRORS = (
    services.ServiceError,
    LogError,
    ProjectionError,
    ObjectStoreError,
)


@contextmanager
def operator_errors() -> Iterator[None]:
    try:
        yield
    except OPERATOR_ERRORS as err:
        raise click.ClickException(str(err)) from err


@click.group()
@click.option("--json-logs/--console-logs", default=None, help="Log format (default: by terminal).")
@click.pass_context
def main(ctx: click.Context, json_logs: bool | None) -> None:
    """SkillMind Analytics: event-sourced learning analytics and audit."""
    settings = load_settings()
    configure_logging(settings.log_level, json=True if settings.env == "production" else json_logs)
    ctx.obj = settings


@main.group("services")
def services_group() -> None:
    """Run Kafka, PostgreSQL, the S3 server and Mailpit (SMTP) locally, without Docker."""


@services_group.command("up")
@click.argument("names", nargs=-1)
@click.pass_obj
def services_up(settings: Settings, names: tuple[str, ...]) -> None:
    """Install (cached), start and wait for the services; reuse any already running."""
    with operator_errors():
        for svc in services.select(settings, names):
            click.echo(svc.up().line())


@services_group.command("down")
@click.argument("names", nargs=-1)
@click.pass_obj
def services_down(settings: Settings, names: tuple[str, ...]) -> None:
    """Stop the services this project started (by pid file); nothing else is touched."""
    with operator_errors():
        for svc in reversed(services.select(settings, names)):
            click.echo(f"{svc.name:<9} {'stopped' if svc.down() else 'was not running'}")


@services_group.command("status")
@click.argument("names", nargs=-1)
@click.pass_obj
def services_status(settings: Settings, names: tuple[str, ...]) -> None:
    """One line per service; exits 1 naming every unhealthy one."""
    with operator_errors():
        report = [svc.status() for svc in services.select(settings, names)]
    for health in report:
        click.echo(health.line())
    unhealthy = [h.name for h in report if not h.healthy]
    if unhealthy:
        raise click.ClickException(f"unhealthy: {', '.join(unhealthy)}")


@services_group.command("logs")
@click.argument("name", type=click.Choice(list(services.SERVICE_TYPES)))
@click.option("-n", "--lines", default=50, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.pass_obj
def services_logs(settings: Settings, name: str, lines: int, follow: bool) -> None:
    """Print the end of a service's log file."""
    (svc,) = services.select(settings, (name,))
    if not svc.log_path.exists():
        raise click.ClickException(f"{svc.log_path} does not exist yet; start it: skillmind services up {name}")
    click.echo(f"==> {svc.log_path}", err=True)
    subprocess.run(["tail", f"-n{lines}", *(["-F"] if follow else []), str(svc.log_path)])


@main.command()
@click.pass_obj
def bootstrap(settings: Settings) -> None:
    """Create topics, database schema and buckets (idempotent); report drift."""
    from skillmind.bootstrap import bootstrap as run_bootstrap

    with operator_errors():
        checks = run_bootstrap(settings)
    for check in checks:
        click.echo(check.line())
    if not all(c.ok for c in checks):
        raise click.ClickException("bootstrap found settings that differ from the catalogue (above).")


@main.command()
@click.option(
    "--pipeline/--no-pipeline",
    default=True,
    show_default=True,
    help="Also require the pipeline's components to be running and progressing (as /readyz does).",
)
@click.pass_obj
def health(settings: Settings, pipeline: bool) -> None:
    """Health report of every component: services, topics, schema, buckets, the pipeline."""
    from skillmind.bootstrap import bootstrap as run_bootstrap
    from skillmind.bootstrap import health as service_health

    checks = service_health(settings)
    if all(c.ok for c in checks):
        with operator_errors():
            checks += run_bootstrap(settings)
    click.echo("SkillMind Analytics — component health")
    for check in checks:
        click.echo("  " + check.line())
    bad = [c.component for c in checks if not c.ok]
    if pipeline and not bad:
        bad += _pipeline_health(settings)
    if bad:
        raise click.ClickException(f"unhealthy: {', '.join(bad)}")
    click.echo("all components healthy")


def _pipeline_health(settings: Settings) -> list[str]:
    """Print the pipeline's components, lag and quarantine; return the unhealthy names."""
    import psycopg

    from skillmind.readiness import pipeline_report

    with operator_errors(), psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        report = pipeline_report(settings, conn)
    for name, state in report["components"].items():
        click.echo(f"  {name:<12} {state}")
    lag = report["lag"]
    click.echo(f"  {'lag':<12} {lag['total']} offsets (inbox {lag['inbox']}, log {lag['log']})")
    click.echo(f"  {'quarantine':<12} {report['quarantined']} records (skillmind quarantine list)")
    return [name for name, state in report["components"].items() if state != "ok"]


@main.command()
@click.option("--tenant", required=True, help="Tenant the token is for.")
@click.option("--user", required=True, help="User id (becomes the `actor` of what they append).")
@click.option("--role", "roles", multiple=True, required=True, help="A role; repeat for several.")
@click.option("--hours", default=12, show_default=True, help="Lifetime.")
@click.pass_obj
def token(settings: Settings, tenant: str, user: str, roles: tuple[str, ...], hours: int) -> None:
    """Mint a local HS256 bearer token (signed with SKILLMIND_API__JWT_SECRET)."""
    from datetime import timedelta

    from api.auth import mint_token

    try:
        click.echo(mint_token(settings.api, tenant=tenant, user=user, roles=list(roles), ttl=timedelta(hours=hours)))
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--role") from err


@main.command()
@click.option("--host", default=None, help="Default: SKILLMIND_API__HOST.")
@click.option("--port", default=None, type=int, help="Default: SKILLMIND_API__PORT.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="uvicorn worker processes on one port; each builds the app from the environment (SKILLMIND_*).",
)
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP API."""
    import uvicorn

    from api.app import create_app

    # Several workers each build their own app (and pool, producer, log tail) in their process.
    app: Any = create_app(settings) if workers == 1 else "api.app:app_from_environment"
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        access_log=False,
    )


@main.command()
@click.argument("components", nargs=-1, type=click.Choice(sorted(COMPONENTS)))
@click.option(
    "--instance",
    default="0",
    show_default=True,
    help="Stable id of this process among its peers (fences its own zombies).",
)
@click.pass_obj
def run(settings: Settings, components: tuple[str, ...], instance: str) -> None:
    """Run the stream processors (all by default) until SIGINT/SIGTERM."""
    from skillmind.supervisor import run_components

    with operator_errors():
        run_components(settings, components or tuple(sorted(COMPONENTS)), instance)


@main.command()
@click.option("--tenant", default=None, help="Re-fold only this tenant's rows, in place.")
@click.option("--check", is_flag=True, help="Print the live tables' checksums; rebuild nothing.")
@click.pass_obj
def replay(settings: Settings, tenant: str | None, check: bool) -> None:
    """Rebuild the read models from offset zero into a fresh schema, swap it in, print checksums.

    The read models are one projection (scores are computed from the facts), so they are
    rebuilt together; --tenant re-folds a single tenant's rows in place.
    """
    from events.reader import partitions_of
    from events.topics import topic_name
    from projections.rebuild import checksums, rebuild, rebuild_tenant

    with operator_errors():
        if check:
            sums = checksums(settings)
        elif tenant:
            sums = rebuild_tenant(settings, tenant)
        else:
            log_topic = topic_name(settings.kafka, "log")
            total = _topic_size(settings, log_topic, partitions_of(settings.kafka, log_topic))
            with click.progressbar(length=total, label="replaying the log", file=sys.stderr) as bar:
                sums = rebuild(settings, progress=bar.update)
    for table, digest in sums.items():
        click.echo(f"{table:<18} {digest}")


def _topic_size(settings: Settings, topic: str, partitions: list[int]) -> int:
    from confluent_kafka import Consumer, TopicPartition

    from events.kafka import consumer_config

    consumer = Consumer(consumer_config(settings.kafka))
    try:
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


@main.command()
@click.option("--day", "day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="UTC day to score.")
@click.option("--tenant", "tenants", multiple=True, help="Only these tenants (default: all).")
@click.pass_obj
def recompute(settings: Settings, day: datetime, tenants: tuple[str, ...]) -> None:
    """Append recompute ticks for a day by hand (backfill)."""
    from jobs.scheduler import append_ticks, known_tenants

    with operator_errors():
        chosen = list(tenants) or known_tenants(settings)
        appended = append_ticks(settings, day.date(), chosen, manual=True)
    click.echo(f"appended {appended} tick(s) for {day.date()}: {', '.join(chosen) or 'no tenants'}")


@main.group()
def audit() -> None:
    """Audit the log."""


@audit.command("verify")
@click.option("--tenant", default=None, help="Only this tenant's chain.")
@click.option("--topic", default=None, help="Verify another copy of the log (default: the log topic).")
@click.pass_obj
def audit_verify(settings: Settings, tenant: str | None, topic: str | None) -> None:
    """Re-read the log from the start; verify every tenant's sequence and hash chain."""
    from events.topics import topic_name
    from events.verify import verify_log

    with operator_errors():
        result = verify_log(settings.kafka, topic or topic_name(settings.kafka, "log"), tenant=tenant)
    if not result.ok:
        raise click.ClickException(result.describe())
    click.echo(result.describe())


@main.command()
@click.pass_obj
def demo(settings: Settings) -> None:
    """Seed the demo tenant, then run the pipeline and the API until Ctrl-C."""
    from skillmind.demo import run_demo

    with operator_errors():
        run_demo(settings)


@main.group()
def quarantine() -> None:
    """Log records the fold set aside instead of stopping (see README, "The quarantine")."""


@quarantine.command("list")
@click.option("--tenant", default=None, help="Only this tenant's records.")
@click.option("--limit", default=50, show_default=True, help="Most recent rows to print.")
@click.pass_obj
def quarantine_list(settings: Settings, tenant: str | None, limit: int) -> None:
    """Print quarantined records, newest first: where they sit in the log and why."""
    import psycopg

    query = (
        "select log_partition, log_offset, tenant_id, sequence, record_id, type, rule, reason "
        "from readmodel.quarantine where %(tenant)s::text is null or tenant_id = %(tenant)s "
        "order by log_offset desc, log_partition limit %(limit)s"
    )
    with operator_errors(), psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        rows = conn.execute(query, {"tenant": tenant, "limit": limit}).fetchall()
    if not rows:
        click.echo("no quarantined records")
    for partition, offset, tenant_id, sequence, record_id, kind, rule, reason in rows:
        where = f"{tenant_id} #{sequence}" if tenant_id is not None else "(no tenant)"
        click.echo(f"p{partition}@{offset}  {where}  id={record_id}  type={kind}  [{rule}] {reason}")


@main.group()
def schemas() -> None:
    """The published contract (JSON Schemas, AsyncAPI catalogue)."""


@schemas.command("publish")
@click.option("--check", is_flag=True, help="Only report files that differ from the models.")
def schemas_publish(check: bool) -> None:
    """Regenerate schemas/json/* and schemas/asyncapi.json from the models."""
    from schemas.publish import publish, stale_files

    if check:
        stale = stale_files()
        for path in stale:
            click.echo(f"stale: {path}")
        if stale:
            raise click.ClickException("published schemas differ from the models; run `skillmind schemas publish`.")
        click.echo("published schemas match the models")
        return
    try:
        written = publish()
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    for path in written:
        click.echo(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
