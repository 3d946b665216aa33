"""The auditor's side end to end on the real services: holds placed and released through the
API and the log, a signed checkpoint by the scheduler job, an audit export read from Kafka
that verifies offline, and the pipeline still folding afterwards."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.audit import AuditExportRequest
from api.audit_exporter import run_audit_export
from events.auditformat import INDEX
from events.auditsign import checkpoint_valid, load_public_pem
from events.auditverify import verify_export
from events.checkpoints import CheckpointChecker
from events.topics import topic_name
from events.verify import verify_log
from jobs.checkpoints import append_checkpoints
from skillmind.cli import main
from skillmind.settings import Settings
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    bearer,
    running_pipeline,
    seed_history,
    wait_until,
)

TENANT = "acme"


def place(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/legal-holds", headers=headers, json=body)
    assert response.status_code == 202, response.text
    return response.json()


def audit_types(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get("/v1/audit", headers=headers, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [i["type"] for i in response.json()["items"]]


def hold_lifecycle(client: TestClient, settings: Settings) -> dict[str, Any]:
    auditor = bearer(settings, TENANT, "auditor-1", "auditor")
    other_auditor = bearer(settings, TENANT, "auditor-2", "auditor")
    admin = bearer(settings, TENANT, "admin-1", "company_admin")
    learner_hold = place(
        client, auditor, {"scope": "learner", "scope_id": f"{TENANT}-l1", "case_reference": "C-1", "reason": "tribunal"}
    )
    type_hold = place(
        client,
        admin,
        {"scope": "event_type", "scope_id": "learner.enrolled", "case_reference": "C-2", "reason": "review"},
    )
    assert (
        client.post(
            "/v1/legal-holds",
            headers=bearer(settings, TENANT, "m", "manager"),
            json={"scope": "tenant", "case_reference": "C", "reason": "r"},
        ).status_code
        == 403
    )
    bad = client.post(
        "/v1/legal-holds",
        headers=auditor,
        json={"scope": "tenant", "scope_id": "x", "case_reference": "C", "reason": "r"},
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    seen = {"min_position": type_hold["position"]}
    holds = client.get("/v1/legal-holds", headers=auditor, params=seen).json()
    assert {h["hold_id"] for h in holds if h["active"]} == {learner_hold["hold_id"], type_hold["hold_id"]}
    path = f"/v1/legal-holds/{type_hold['hold_id']}"
    assert client.delete(path, headers=other_auditor, params={"reason": "no", **seen}).status_code == 403
    released = client.delete(path, headers=admin, params={"reason": "case closed", **seen})
    assert released.status_code == 202, released.text
    again = client.delete(path, headers=auditor, params={"reason": "x", "min_position": released.json()["position"]})
    assert again.status_code == 409
    active = client.get("/v1/legal-holds", headers=auditor, params={"active": True}).json()
    assert [h["hold_id"] for h in active] == [learner_hold["hold_id"]]
    return learner_hold


def test_holds_checkpoint_and_export_through_the_real_log(
    pipeline_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_settings
    with running_pipeline(settings), api_client(settings) as client:
        seed_history(client, settings, TENANT, learners=4)
        learner_hold = hold_lifecycle(client, settings)
        auditor = bearer(settings, TENANT, "auditor-1", "auditor")
        assert append_checkpoints(settings) == 1
        wait_until("the checkpoint in the audit index", lambda: "audit.checkpoint" in audit_types(client, auditor))
        assert append_checkpoints(settings) == 0, "nothing new since the checkpoint: no second one"
        held = client.get("/v1/audit", headers=auditor, params={"on_hold": True, "limit": 1000}).json()["items"]
        assert held and all(i["hold_ids"] == [learner_hold["hold_id"]] for i in held)

        out = io.BytesIO()
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
            manifest = run_audit_export(settings, conn, TENANT, AuditExportRequest(), out)
        assert manifest is not None and manifest["legal_hold"] and manifest["hold_ids"] == [learner_hold["hold_id"]]
        (tmp_path / "export.csv").write_bytes(out.getvalue())
        public = load_public_pem(client.get("/v1/audit/public-key").json()["public_key_pem"].encode())
        verdict = verify_export(tmp_path / "export.csv", manifest, public)
        assert verdict.ok and verdict.rows == manifest["range"]["last_sequence"], verdict
        assert manifest["checkpoint"] and checkpoint_valid(public, manifest["checkpoint"])
        rows = list(csv.reader(io.StringIO(out.getvalue().decode(), newline="")))[1:]
        labelled = {int(r[INDEX["sequence"]]) for r in rows if r[INDEX["legal_hold"]] == "true"}
        assert labelled == {i["sequence"] for i in held}, "export and search label the same records"

        log_is_checked_against_signed_heads(settings, public, manifest)
        by_hand_with_the_cli(settings, tmp_path, monkeypatch, client)
        assert_fresh_event_reaches_report(client, settings, TENANT, f"{TENANT}-l2")


def log_is_checked_against_signed_heads(settings: Settings, public: Any, manifest: dict[str, Any]) -> None:
    """`skillmind audit verify` with the key and a kept checkpoint: the log's checkpoint and the
    kept one match; a kept head the log no longer has is named."""
    log = topic_name(settings.kafka, "log")
    kept = manifest["checkpoint"]
    result = verify_log(settings.kafka, log, tenant=TENANT, checkpoints=CheckpointChecker(public, [kept]))
    assert result.ok and result.checkpoints == 2, result.describe()
    beyond = {**kept, "sequence": manifest["chain_head"]["sequence"] + 5}
    truncated = verify_log(settings.kafka, log, tenant=TENANT, checkpoints=CheckpointChecker(public, [beyond]))
    assert not truncated.ok and "truncated" in truncated.describe()


def by_hand_with_the_cli(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    """`skillmind audit export` then `skillmind audit verify-export`, as an operator would."""
    monkeypatch.setenv("SKILLMIND_KAFKA__TOPIC_PREFIX", settings.kafka.topic_prefix)
    monkeypatch.setenv("SKILLMIND_KAFKA__PARTITIONS", str(settings.kafka.partitions))
    monkeypatch.setenv("SKILLMIND_POSTGRES__DBNAME", settings.postgres.dbname)
    (tmp_path / "key.pem").write_text(client.get("/v1/audit/public-key").json()["public_key_pem"])
    out = tmp_path / "by-hand"
    exported = CliRunner().invoke(
        main, ["audit", "export", "--tenant", TENANT, "--out", str(out), "--from-sequence", "3"]
    )
    assert exported.exit_code == 0, exported.output
    args = [str(out / "export.csv"), str(out / "manifest.json"), "--public-key", str(tmp_path / "key.pem")]
    verified = CliRunner().invoke(main, ["audit", "verify-export", *args])
    assert verified.exit_code == 0 and "signature valid" in verified.output, verified.output
    nothing = CliRunner().invoke(main, ["audit", "export", "--tenant", "nobody", "--out", str(tmp_path / "none")])
    assert nothing.exit_code == 1 and "no record" in nothing.output
