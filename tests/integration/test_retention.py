"""Issue 12, retention, end to end: a tenant with 60-day-old history sets a 30-day policy
over the API; one learner is under a legal hold placed through the API (the real predicate,
``jobs.retention.held_predicate`` over issue 11's rule). The dry run changes nothing; the
purge appends its receipt, turns the expired unheld records into stubs in the archive (no
data left in the objects), removes their read-model rows and keeps every held one; the
archive's chains verify with the receipt and fail without it; a fresh event still reaches
a report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from minio.error import S3Error

from events.archive_verify import verify_rows
from jobs.archive_audit import log_rows, verify_archive
from jobs.archiver import Sealer
from jobs.objectstore import make_client
from jobs.retention import purge_tenant
from skillmind.cli import main
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.logtools import log_records
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    bearer,
    post_events,
    running_pipeline,
    wait_until,
)

HELD = "acme-l1"


def _signin_days(settings: Settings) -> dict[str, int]:
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        rows = conn.execute("select learner_id, count(*) from readmodel.signin_days group by 1").fetchall()
    return dict(rows)  # type: ignore[arg-type]


def _archived_everything(settings: Settings) -> bool:
    Sealer(settings).flush(force=True)
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        waiting = conn.execute("select count(*) from archive_buffer").fetchone()[0]  # type: ignore[index]
        taken = conn.execute("select coalesce(sum(next_offset), 0) from worker_positions where worker = 'archiver'")
        return waiting == 0 and taken.fetchone()[0] > 0  # type: ignore[index]


def test_purge_stubs_expired_records_keeps_held_ones_and_verifies(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    old_end = datetime.now(UTC).date() - timedelta(days=60)
    with (
        running_pipeline(settings, ("sequencer", "projections", "scheduler", "archiver", "exports")),
        api_client(settings) as client,
    ):
        events = list(history(Shape(tenant="acme", programs=1, learners=4, days=3, end=old_end)))
        assert post_events(client, settings, "acme", events)["rejected"] == 0
        admin = bearer(settings, "acme", "admin-1", "company_admin")
        policy = {"learner_events_days": 30, "mutations_days": 365, "exports_days": 7, "cadence": "daily", "hour": 4}
        too_short = client.put("/v1/tenants/acme/retention", headers=admin, json={**policy, "learner_events_days": 0})
        assert too_short.status_code == 422
        assert client.put("/v1/tenants/acme/retention", headers=admin, json=policy).status_code == 202
        wait_until("the policy in the read model", lambda: _policy_set(settings))
        hold = {"scope": "learner", "scope_id": HELD, "case_reference": "CASE-12", "reason": "Tribunal."}
        placed = client.post("/v1/legal-holds", headers=admin, json=hold)
        assert placed.status_code == 202, placed.text
        wait_until("the hold in force", lambda: _hold_active(client, admin, placed.json()["hold_id"]))
        wait_until("every record archived", lambda: _archived_everything(settings))
        before = _signin_days(settings)
        assert before.get(HELD) and len(before) > 1

        dry = purge_tenant(settings, "acme", dry_run=True)
        assert dry.plan.purged and dry.plan.held and not dry.receipts
        assert _signin_days(settings) == before  # the dry run changed nothing

        s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
        versions = {key: s3.stat_object(bucket, key).version_id for key in dry.files}
        report = purge_tenant(settings, "acme")
        assert report.files == dry.files
        for key, version in versions.items():  # the versions that held the data are gone
            with pytest.raises(S3Error, match=r"NoSuchVersion|NoSuchKey"):
                s3.get_object(bucket, key, version_id=version)
        assert len(report.receipts) == 1 and report.read_model_rows["signin_days"] > 0
        # The read models drop the rows when they fold the receipt (projections/purge.py).
        wait_until("the receipt folded", lambda: _signin_days(settings) == {HELD: before[HELD]})
        wait_until(
            "the receipt in the log",
            lambda: any(r["type"] == "retention.purged" for r in log_records(settings)),
        )

        rows = log_rows(settings)
        stubs = [r for r in rows if r["stub"]]
        assert {r["sequence"] for r in stubs} == set(report.plan.sequences)
        assert all(r["data"] is None and r["actor"] is None and r["raw"] is None for r in stubs)
        whole = {r["sequence"] for r in rows if not r["stub"]}
        assert {r["sequence"] for r in report.plan.held} <= whole  # held records keep their data
        assert not any(r["data"] and HELD in r["data"] for r in stubs)
        assert verify_archive(settings).ok
        assert not verify_rows([r for r in rows if r["type"] != "retention.purged"]).ok  # no receipt: refused
        assert purge_tenant(settings, "acme").plan.purged == []  # a second run finds nothing
        _operator_commands(settings)
        _exports_expire(client, settings, admin)
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l2")


def _exports_expire(client: Any, settings: Settings, admin: dict[str, str]) -> None:
    """An export older than exports_days (7): its object is deleted and it is expired."""
    response = client.post("/v1/exports", headers=admin, json={"format": "csv", "group_by": "tenant"})
    assert response.status_code == 202, response.text
    export_id = response.json()["export_id"]

    def status() -> str | None:
        items = client.get("/v1/exports", headers=admin).json()["items"]
        return next((e["status"] for e in items if e["export_id"] == export_id), None)

    wait_until("the export ready", lambda: status() == "ready")
    later = datetime.now(UTC).date() + timedelta(days=8)
    report = purge_tenant(settings, "acme", today=later)
    (_, expired_id, key, _, _), *_ = report.export_objects
    assert expired_id == export_id and report.receipts
    with pytest.raises(S3Error, match="NoSuchKey"):
        make_client(settings.s3).stat_object(settings.s3.exports_bucket, key)
    wait_until("the export expired", lambda: status() == "expired")


def _cli(settings: Settings, *args: str) -> str:
    env = {
        "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        "SKILLMIND_S3__ARCHIVE_BUCKET": settings.s3.archive_bucket,
        "SKILLMIND_S3__EXPORTS_BUCKET": settings.s3.exports_bucket,
    }
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _operator_commands(settings: Settings) -> None:
    """The commands an operator runs, on the purged tenant: nothing left to purge but what
    the hold keeps."""
    assert "every chain is intact" in _cli(settings, "audit", "verify", "--archive")
    dry = _cli(settings, "retention", "purge", "--tenant", "acme", "--dry-run")
    assert "archive records to stubs: 0" in dry and "kept under legal hold: 0" not in dry
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    assert "verified" in _cli(settings, "archive", "trim", "--before", tomorrow, "--dry-run")
    assert "signin_days" in _cli(settings, "snapshot")
    assert "stored" in _cli(settings, "archive", "flush")


def _hold_active(client: Any, admin: dict[str, str], hold_id: str) -> bool:
    response = client.get("/v1/legal-holds", headers=admin, params={"active": "true"})
    return response.status_code == 200 and any(h["hold_id"] == hold_id for h in response.json())


def _policy_set(settings: Settings) -> bool:
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        found = conn.execute("select 1 from readmodel.retention_policies where tenant_id = 'acme'").fetchone()
    return found is not None
