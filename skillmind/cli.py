"""`skillmind`: the single entry point for operators."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from events.errors import LogError
from jobs.objectstore import ObjectStoreError
from projections.errors import ProjectionError
from skillmind import services
from skillmind.logging import configure_logging
from skillmind.settings import Settings, load_settings

COMPONENTS = {"sequencer", "projections", "scheduler", "exports", "notifications", "archiver"}

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
    from skillmind.runtime import tune_gc

    tune_gc()  # this process's own app (one worker); each of several workers tunes its own
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
    from skillmind.runtime import tune_gc
    from skillmind.supervisor import run_components

    tune_gc()
    with operator_errors():
        run_components(settings, components or tuple(sorted(COMPONENTS)), instance)


@main.command()
@click.option("--tenant", default=None, help="Re-fold only this tenant's rows, in place.")
@click.option("--check", is_flag=True, help="Print the live tables' checksums; rebuild nothing.")
@click.option("--from-archive", is_flag=True, help="Read the Parquet archive, then the Kafka tail after it.")
@click.pass_obj
def replay(settings: Settings, tenant: str | None, check: bool, from_archive: bool) -> None:
    """Rebuild the read models from offset zero into a fresh schema, swap it in, print checksums.

    The read models are one projection (scores are computed from the facts), so they are
    rebuilt together; --tenant re-folds a single tenant's rows in place. --from-archive
    reads the archived messages and then Kafka from the archived offsets on: the same
    messages, so the same checksums, also after `skillmind archive trim`.
    """
    from events.reader import partitions_of
    from events.topics import topic_name
    from projections.rebuild import checksums, rebuild, rebuild_tenant

    with operator_errors():
        if check:
            sums = checksums(settings)
        elif tenant:
            sums = rebuild_tenant(settings, tenant)
        elif from_archive:
            from jobs.archive_replay import archive_source

            sums = rebuild(settings, source=archive_source(settings))
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
    """Append recompute ticks for a day by hand (backfill): a day that has ended (UTC), so
    before today; the nightly tick scores yesterday on its own."""
    from jobs.scheduler import append_ticks, known_tenants

    today = datetime.now(UTC).date()
    if day.date() >= today:
        raise click.BadParameter(
            f"{day.date()} has not ended yet (today is {today} UTC): a tick scores a whole day, and a "
            "partial or future day would show as the latest computed one; pick a day before today",
            param_hint="--day",
        )
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
@click.option("--archive", is_flag=True, help="Verify the Parquet archive instead (purged stubs need a receipt).")
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM of the signing key: the signatures of the log's audit.checkpoint records are checked too.",
)
@click.option(
    "--checkpoint",
    "kept",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A signed checkpoint (its data, JSON) you kept: the log must still hold that hash at that sequence.",
)
@click.pass_obj
def audit_verify(
    settings: Settings,
    tenant: str | None,
    topic: str | None,
    archive: bool,
    public_key: Path | None,
    kept: tuple[Path, ...],
) -> None:
    """Re-read the log from the start; verify every tenant's sequence and hash chain, and signed heads.

    --archive verifies the chains over the Parquet archive and the Kafka tail after it instead
    (a purged stub needs a retention.purged receipt)."""
    from events.auditsign import SigningKeyError, load_public_pem
    from events.auditverify import load_json
    from events.checkpoints import CheckpointChecker
    from events.topics import topic_name
    from events.verify import verify_log

    try:
        key = load_public_pem(public_key.read_bytes()) if public_key else None
        points = [p for p in map(load_json, kept) if tenant is None or p.get("tenant_id") == tenant]
    except (ValueError, SigningKeyError) as err:
        raise click.ClickException(str(err)) from err
    checker = CheckpointChecker(key, points)
    with operator_errors():
        if archive:
            from jobs.archive_audit import verify_archive

            verdict = verify_archive(settings, tenant=tenant)
            if not verdict.ok:
                raise click.ClickException(verdict.describe())
            click.echo(verdict.describe())
            return
        result = verify_log(
            settings.kafka, topic or topic_name(settings.kafka, "log"), tenant=tenant, checkpoints=checker
        )
    if not result.ok:
        raise click.ClickException(result.describe())
    click.echo(result.describe())


@main.group()
def archive() -> None:
    """The Parquet archive of the log in S3."""


@archive.command("flush")
@click.pass_obj
def archive_flush(settings: Settings) -> None:
    """Close and upload every file the archiver holds open now (whatever its size or age)."""
    from jobs.archiver import Sealer

    with operator_errors():
        stored = Sealer(settings).flush(force=True)
    click.echo(f"stored {stored} record(s)")


@main.command()
@click.option("--day", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Name it for this day (default: today).")
@click.pass_obj
def snapshot(settings: Settings, day: datetime | None) -> None:
    """Write every read-model table as Parquet to the archive bucket (_snapshots/day=<day>/)."""
    from jobs.snapshot import take_snapshot

    with operator_errors():
        counts = take_snapshot(settings, day=day.date() if day else None)
    for table, rows in counts.items():
        click.echo(f"{table:<26} {rows} rows")


@main.group()
def retention() -> None:
    """Per-tenant retention: purge what the policy says is expired (legal holds kept)."""


@retention.command("purge")
@click.option("--tenant", "tenants", multiple=True, help="Only these tenants (default: all).")
@click.option("--dry-run", is_flag=True, help="Print exactly what would go; change nothing.")
@click.pass_obj
def retention_purge(settings: Settings, tenants: tuple[str, ...], dry_run: bool) -> None:
    """Purge now, whatever the cadence: archive records to stubs, read-model rows, export objects."""
    from jobs.retention import known_tenants, purge_tenant

    with operator_errors():
        for tenant in tenants or known_tenants(settings):
            for line in purge_tenant(settings, tenant, dry_run=dry_run).lines():
                click.echo(line)


@main.group()
def erasure() -> None:
    """Subject erasure (crypto-shredding): the archive side of erasures already made."""


@erasure.command("redact")
@click.pass_obj
def erasure_redact(settings: Settings) -> None:
    """Redact now what the hourly pass would: archived plaintext records erasure receipts
    name, and erased people's rows in read-model snapshots."""
    from jobs.erasure import redact_erased

    with operator_errors():
        click.echo(f"redacted {redact_erased(settings)} archive records and snapshot rows")


@archive.command("trim")
@click.option("--before", required=True, type=click.DateTime(["%Y-%m-%d"]), help="UTC day: records appended before go.")
@click.option("--dry-run", is_flag=True, help="Verify and print what would go; delete nothing.")
@click.pass_obj
def archive_trim(settings: Settings, before: datetime, dry_run: bool) -> None:
    """Delete Kafka log records appended before DATE, only up to archived and verified offsets."""
    from jobs.archive_trim import trim

    with operator_errors():
        trim(settings, before.date(), dry_run=dry_run, say=click.echo)


@audit.command("checkpoint")
@click.pass_obj
def audit_checkpoint(settings: Settings) -> None:
    """Append a signed checkpoint of every tenant's chain head now (the scheduler does it daily)."""
    from jobs.checkpoints import append_checkpoints

    with operator_errors():
        appended = append_checkpoints(settings)
    click.echo(f"appended {appended} checkpoint(s)")


@audit.command("export")
@click.option("--tenant", required=True, help="The tenant whose log to export.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory.")
@click.option("--from-sequence", type=int, default=None)
@click.option("--to-sequence", type=int, default=None)
@click.option("--type", "types", multiple=True, help="Full rows for these types only (others become stubs).")
@click.pass_obj
def audit_export(
    settings: Settings,
    tenant: str,
    out_dir: Path,
    from_sequence: int | None,
    to_sequence: int | None,
    types: tuple[str, ...],
) -> None:
    """Write an audit export (export.csv, manifest.json) of a tenant's log to a directory, by hand."""
    import json

    import psycopg
    from pydantic import ValidationError

    from api.audit import AuditExportRequest
    from api.audit_exporter import run_audit_export

    try:
        request = AuditExportRequest(from_sequence=from_sequence, to_sequence=to_sequence, types=list(types) or None)
    except ValidationError as err:
        raise click.ClickException(str(err)) from err
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "export.csv"
    try:
        with (
            operator_errors(),
            psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn,
            path.open("wb") as out,
        ):
            manifest = run_audit_export(settings, conn, tenant, request, out)
    except click.ClickException:
        path.unlink(missing_ok=True)  # a partial file must not pass for an export
        raise
    if manifest is None:
        path.unlink()
        raise click.ClickException(f"tenant {tenant} has no record in that range")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    click.echo(f"wrote {manifest['row_count']} rows to {out_dir / 'export.csv'} and its signed manifest")


@audit.command("keygen")
@click.option(
    "--public-key",
    "public_out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the public key (PEM) to this file.",
)
def audit_keygen(public_out: str | None) -> None:
    """Make an Ed25519 signing key: prints the setting line and the public key (PEM)."""
    from events.auditsign import generate_private_key, key_id, load_private_key, public_pem

    private = generate_private_key()
    public = load_private_key(private).public_key()
    if public_out:
        with open(public_out, "w", encoding="ascii") as out:
            out.write(public_pem(public))
    click.echo(f"SKILLMIND_AUDIT__SIGNING_KEY={private}")
    click.echo(f"# key id {key_id(public)}; give auditors the public key:", err=True)
    click.echo(public_pem(public), err=True, nl=False)


@audit.command("verify-export")
@click.argument("export_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("manifest_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM of the signing key (GET /v1/audit/public-key); without it the signatures are not checked.",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A signed audit.checkpoint's data (JSON) you kept: the export must agree with it.",
)
def audit_verify_export(
    export_csv: Path, manifest_json: Path, public_key: Path | None, checkpoint: Path | None
) -> None:
    """Verify an audit export offline against its manifest; exit 1 naming the first bad sequence."""
    from events.auditsign import SigningKeyError, load_public_pem
    from events.auditverify import load_json, verify_export

    try:
        manifest = load_json(manifest_json)
        point = load_json(checkpoint) if checkpoint else None
        key = load_public_pem(public_key.read_bytes()) if public_key else None
    except (ValueError, SigningKeyError) as err:
        raise click.ClickException(str(err)) from err
    verdict = verify_export(export_csv, manifest, key, point)
    if not verdict.ok:
        raise click.ClickException(verdict.describe(manifest))
    click.echo(verdict.describe(manifest))


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
