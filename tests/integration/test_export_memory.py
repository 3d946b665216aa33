"""Issue 10: a 1M-row CSV export runs in the background with the worker's memory bounded.

The rows are written straight into the read model (1M learner-days); the export is
requested through the API and run by a real `skillmind run exports` process, whose peak
RSS is read from /proc before and after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.common import seed_learner_days
from jobs.objectstore import make_client
from skillmind.settings import Settings
from tests.integration.pipeline import api_client, bearer, running_pipeline, wait_until

ROWS = int(os.environ.get("SKILLMIND_CSV_TEST_ROWS", "1000000"))


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_million_row_csv_export_runs_in_bounded_memory(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        "SKILLMIND_S3__EXPORTS_BUCKET": settings.s3.exports_bucket,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "skillmind.cli", "run", "exports"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with running_pipeline(settings, ("sequencer", "projections")), api_client(settings) as client:
            root = bearer(settings, "big", "root", "platform_admin")
            created = client.post("/v1/tenants", headers=root, json={"tenant_id": "big", "name": "Big"})
            assert created.status_code == 202
            # The read models exist once the projections have folded the tenant (they create the
            # schema on their first start): only then may rows be seeded into them.
            folded = client.get("/v1/overview", headers=root, params={"min_position": created.json()["position"]})
            assert folded.status_code == 200, folded.text
            seed_learner_days(settings.postgres.conninfo(), "big", ROWS)
            admin = bearer(settings, "big", "admin", "company_admin")

            def export(group_by: str) -> dict:
                response = client.post("/v1/exports", headers=admin, json={"format": "csv", "group_by": group_by})
                assert response.status_code == 202, response.text
                export_id = response.json()["export_id"]

                def ready() -> dict | None:
                    body = client.get(f"/v1/exports/{export_id}", headers=admin).json()
                    assert body["status"] != "failed", body
                    return body if body["status"] == "ready" else None

                return wait_until(f"export {export_id}", ready, timeout_s=600)

            small = export("tenant")  # warms the worker: imports, connections, buffers
            assert small["status"] == "ready"
            warm = _peak_rss_mib(worker.pid)
            big = export("learner")
            grown = _peak_rss_mib(worker.pid) - warm
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    stat = make_client(settings.s3).stat_object(settings.s3.exports_bucket, f"big/{big['export_id']}.csv")
    print(f"exported {big['rows']:,} rows, {big['size_bytes']:,} bytes; the worker's peak RSS grew by {grown:.1f} MiB")
    assert big["rows"] == ROWS and stat.size == big["size_bytes"]
    # The file is ~80 MB; holding it or its rows in memory would grow the worker far beyond this.
    assert grown < 64, f"the export worker grew by {grown:.0f} MiB"
