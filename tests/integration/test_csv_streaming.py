"""A CSV report of 1M rows streams from a real server with bounded memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from api.auth import mint_token
from projections.runner import ensure_schema
from skillmind.settings import Settings

ROWS = int(os.environ.get("SKILLMIND_CSV_TEST_ROWS", "1000000"))


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_million_row_csv_streams_in_bounded_memory(log_settings: Settings, report_db: Settings) -> None:
    with psycopg.connect(report_db.postgres.conninfo(), autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(
            "insert into readmodel.daily_scores (tenant_id, learner_id, day, cohort_id, program_id, score, "
            "signin, attendance, progress, submissions, at_risk, active_7d, completed, tick_sequence, "
            "computed_at) select 'big', 'learner-' || n, date '2026-11-27', 'c' || (n %% 50), "
            "'p' || (n %% 12), "
            "n %% 101, 0.5, 0.25, null, 1, n %% 101 < 40, true, false, 1, now() "
            "from generate_series(1, %s) n",
            [ROWS],
        )
    port = _free_port()
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": log_settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(log_settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": report_db.postgres.dbname,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "skillmind.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    token = mint_token(report_db.api, tenant="big", user="admin", roles=["company_admin"])
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        small = httpx.get(
            f"{base}/v1/reports/engagement",
            params={"format": "csv", "cohort_id": "c1"},
            headers=headers,
            timeout=60,
        )
        assert small.status_code == 200
        warm = _peak_rss_kib(server.pid)
        lines = 0
        with httpx.stream(
            "GET", f"{base}/v1/reports/engagement", params={"format": "csv"}, headers=headers, timeout=300
        ) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
        grown_mib = (_peak_rss_kib(server.pid) - warm) / 1024
    finally:
        server.terminate()
        server.wait(30)
    assert lines == ROWS + 1  # header + every row
    # The whole CSV is ~80 MB; buffering it (or the rows) would grow the server far beyond this.
    assert grown_mib < 40, f"the server grew by {grown_mib:.0f} MiB while streaming"
