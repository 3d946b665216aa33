"""Issues 10 + 11: an audit export runs in the export pipeline. Under a legal hold it is stored
with S3 Object Lock legal hold ON — the S3 server refuses to delete it and the expiry beat
keeps it past its TTL — and once the hold is released it expires. The downloaded CSV and
manifest verify offline with `skillmind audit verify-export`, signature included."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from minio.error import S3Error

from jobs.objectstore import make_client
from skillmind.settings import Settings
from tests.integration.pipeline import (
    api_client,
    assert_fresh_event_reaches_report,
    bearer,
    running_pipeline,
    seed_history,
    wait_until,
)


def test_a_held_audit_export_is_kept_locked_then_expires_after_release(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    exports = pipeline_settings.exports.model_copy(update={"ttl_hours": 3 / 3600, "expiry_every_s": 1})
    settings = pipeline_settings.model_copy(update={"exports": exports})
    with running_pipeline(settings), api_client(settings) as client:
        seed_history(client, settings)
        auditor = bearer(settings, "acme", "aud-1", "auditor")
        hold = client.post(
            "/v1/legal-holds",
            headers=auditor,
            json={"scope": "learner", "scope_id": "acme-l1", "case_reference": "CASE-9", "reason": "Tribunal."},
        )
        assert hold.status_code == 202, hold.text
        hold_id = hold.json()["hold_id"]
        wait_until("the hold folded", lambda: client.get("/v1/legal-holds", headers=auditor).json())
        queued = client.post("/v1/audit/exports", headers=auditor, json={"from_sequence": 1})
        assert queued.status_code == 202, queued.text
        export_id = queued.json()["export_id"]

        def ready() -> dict | None:
            body = client.get(f"/v1/exports/{export_id}", headers=auditor).json()
            assert body["status"] not in ("failed", "expired"), body
            return body if body["status"] == "ready" else None

        done = wait_until("the audit export", ready, timeout_s=180)
        assert done["format"] == "audit" and done["legal_hold"] is True
        for part, name in (("file", "export.csv"), ("manifest", "manifest.json")):
            link = client.post(f"/v1/exports/{export_id}/link", headers=auditor, params={"part": part})
            assert link.status_code == 200, link.text
            (tmp_path / name).write_bytes(httpx.get(link.json()["url"], timeout=30).content)
        (tmp_path / "key.pem").write_text(client.get("/v1/audit/public-key").json()["public_key_pem"])
        verified = subprocess.run(
            [
                sys.executable,
                "-m",
                "skillmind.cli",
                "audit",
                "verify-export",
                str(tmp_path / "export.csv"),
                str(tmp_path / "manifest.json"),
                "--public-key",
                str(tmp_path / "key.pem"),
            ],
            capture_output=True,
            text=True,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr

        s3, bucket = make_client(settings.s3), settings.s3.exports_bucket
        key = f"acme/{export_id}.csv"
        version = next(o.version_id for o in s3.list_objects(bucket, prefix=key, include_version=True))
        with pytest.raises(S3Error):  # Object Lock: the server itself refuses
            s3.remove_object(bucket, key, version_id=version)
        time.sleep(5)  # past the 3 s TTL: the beat (every second) must keep it while the hold lasts
        assert client.get(f"/v1/exports/{export_id}", headers=auditor).json()["status"] == "ready"

        released = client.delete(f"/v1/legal-holds/{hold_id}", headers=auditor, params={"reason": "Case closed."})
        assert released.status_code == 202, released.text
        wait_until(
            "expiry once released",
            lambda: client.get(f"/v1/exports/{export_id}", headers=auditor).json()["status"] == "expired",
            timeout_s=60,
        )
        assert [o for o in s3.list_objects(bucket, prefix=f"acme/{export_id}")] == []
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l2")
