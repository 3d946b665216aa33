"""A CSV report of 1M rows streams from a real server with bounded memory."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psycopg

from api.auth import mint_token
from bench.common import api_server
from projections.runner import ensure_schema
from skillmind.settings import Settings

ROWS = int(os.environ.get("SKILLMIND_CSV_TEST_ROWS", "1000000"))


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


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
        # Reports filter only by cohorts the directory knows (else 404).
        conn.execute(
            "insert into readmodel.cohorts (tenant_id, cohort_id, program_id, name) values ('big', 'c1', 'p1', 'C1')"
        )
    settings = log_settings.model_copy(update={"postgres": report_db.postgres})
    token = mint_token(report_db.api, tenant="big", user="admin", roles=["company_admin"])
    headers = {"Authorization": f"Bearer {token}"}
    with api_server(settings) as server:
        url = f"{server.base_url}/v1/reports/engagement"
        small = httpx.get(url, params={"format": "csv", "cohort_id": "c1"}, headers=headers, timeout=60)
        assert small.status_code == 200
        warm = _peak_rss_kib(server.pid)
        lines = 0
        with httpx.stream("GET", url, params={"format": "csv"}, headers=headers, timeout=300) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
        grown_mib = (_peak_rss_kib(server.pid) - warm) / 1024
    print(f"streamed {lines - 1:,} rows; the server's peak RSS grew by {grown_mib:.1f} MiB")
    assert lines == ROWS + 1  # header + every row
    # The whole CSV is ~80 MB; buffering it (or the rows) would grow the server far beyond this.
    assert grown_mib < 40, f"the server grew by {grown_mib:.0f} MiB while streaming"
