"""Latency and throughput of the reports endpoint for a 10k-learner tenant, beside
``GET /healthz`` (the framework's floor) measured in the same run.

    .venv/bin/python -m bench.bench_api [--learners 10000] [--concurrency 8] [--workers 1]

Starts `skillmind serve` (``--workers`` uvicorn workers, 1 by default) on a free port against a fresh database
seeded with 9 weekly days of scores; an asyncio httpx load generator on loopback sends
the requests. Both share the machine's 2 cores, so absolute numbers are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg

from api.auth import mint_token
from bench.bench_projections import fresh_database
from bench.common import api_server, isolated_settings
from projections.database import drop_database
from projections.runner import ensure_schema
from projections.tick_store import write_scope_figures
from skillmind.settings import Settings

DAY = "2026-11-27"


def seed(settings: Settings, database: str, learners: int) -> None:
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(
            "insert into readmodel.programs select 'bench', 'p' || n, 'Program ' || n, 'owner-' || (n %% 3), 14 "
            "from generate_series(0, 11) n",
            [],
        )
        conn.execute(
            "insert into readmodel.cohorts select 'bench', 'c' || n, 'p' || (n %% 12), 'Cohort ' || n "
            "from generate_series(0, 47) n",
            [],
        )
        conn.execute(
            "insert into readmodel.users select 'bench', 'l' || n, 'Learner ' || n, 'l' || n || '@bench.example' "
            "from generate_series(1, %s) n",
            [learners],
        )
        conn.execute(
            "insert into readmodel.manager_links select 'bench', 'l' || n, 'm' || (n %% 100) "
            "from generate_series(1, %s) n",
            [learners],
        )
        conn.execute(
            "insert into readmodel.daily_scores (tenant_id, learner_id, day, cohort_id, program_id, score, "
            "signin, attendance, progress, submissions, at_risk, active_7d, completed, tick_sequence, computed_at) "
            "select 'bench', 'l' || n, %s::date - 7 * w, 'c' || (n %% 48), "
            "'p' || (n %% 48 %% 12), (n * 7 + w) %% 101, 0.5, 0.25, 0.5, 1, (n * 7 + w) %% 101 < 40, n %% 3 > 0, "
            "n %% 10 = 0, 1, now() from generate_series(1, %s) n, generate_series(0, 8) w",
            [DAY, learners],
        )
        # The tick writes each scored day's scope figures; the seed writes them the same way.
        with conn.transaction(), conn.cursor() as cur:
            for week in range(9):
                day = date.fromisoformat(DAY) - timedelta(weeks=week)
                write_scope_figures(
                    cur, "readmodel", {"t": "bench", "day": day, "sequence": 1, "computed_at": datetime.now(UTC)}
                )
        conn.execute("analyze")


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            response = await client.get(url, headers=headers)
            await response.aread()
            assert response.status_code == 200, response.text[:300]
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of `skillmind serve`")
    args = parser.parse_args()
    base_settings = isolated_settings()
    database = fresh_database(base_settings)
    settings = base_settings.model_copy(
        update={"postgres": base_settings.postgres.model_copy(update={"dbname": database})}
    )
    try:
        seed(settings, database, args.learners)
        with api_server(settings, args.workers, SKILLMIND_LOG_LEVEL="WARNING") as server:
            token = mint_token(settings.api, tenant="bench", user="admin", roles=["company_admin"])
            headers = {"Authorization": f"Bearer {token}"}
            base = server.base_url
            cases = [("GET /healthz (floor)", f"{base}/healthz", 3000)] + [
                (f"reports group_by={g}", f"{base}/v1/reports/engagement?group_by={g}&day={DAY}", n)
                for g, n in (("tenant", 600), ("cohort", 600), ("learner", 120))
            ]
            rows = []
            for name, url, requests in cases:
                asyncio.run(load(url, headers, 20, args.concurrency))  # warm-up
                latencies, seconds = asyncio.run(load(url, headers, requests, args.concurrency))
                rows.append(
                    (
                        name,
                        requests,
                        percentile(latencies, 50) * 1000,
                        percentile(latencies, 99) * 1000,
                        requests / seconds,
                    )
                )
    finally:
        drop_database(base_settings.postgres, database)
    floor = rows[0][4]
    print(f"{args.learners:,} learners, concurrency {args.concurrency}, {args.workers} uvicorn worker(s)\n")
    print(f"| {'request':<26} | {'n':>5} | {'p50 ms':>8} | {'p99 ms':>8} | {'req/s':>8} | {'vs /healthz':>11} |")
    print(f"|{'-' * 28}|{'-' * 7}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 13}|")
    for name, n, p50, p99, rps in rows:
        print(f"| {name:<26} | {n:>5} | {p50:>8.1f} | {p99:>8.1f} | {rps:>8.1f} | {rps / floor:>10.3f}x |")


if __name__ == "__main__":
    main()
