"""Read-your-writes waiting: one connection for every waiter, not one per waiter."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from api.positions import PositionWatcher
from api.problems import Problem
from projections.runner import ensure_schema
from skillmind.settings import Settings


def _backends(conninfo: str, dbname: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute("select count(*) from pg_stat_activity where datname = %s", [dbname]).fetchone()[0]


def test_many_waiters_share_one_connection(report_db: Settings) -> None:
    conninfo = report_db.postgres.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute("insert into readmodel.tenant_positions values ('acme', 3)")

    async def scenario() -> tuple[int, list[object]]:
        watcher = PositionWatcher(conninfo, interval_s=0.02)
        runner = asyncio.create_task(watcher.run())
        waiters = [asyncio.create_task(watcher.wait_for("acme", 5, 20)) for _ in range(100)]
        late = asyncio.create_task(watcher.wait_for("acme", 99, 0.5))
        await asyncio.sleep(0.3)
        during = await asyncio.to_thread(_backends, report_db.postgres.conninfo("postgres"), report_db.postgres.dbname)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("update readmodel.tenant_positions set sequence = 5 where tenant_id = 'acme'")
        done = await asyncio.gather(*waiters, late, return_exceptions=True)
        runner.cancel()
        return during, done

    during, done = asyncio.run(scenario())
    assert during == 1, "a hundred waiters, one connection (the watcher's)"
    assert done[:100] == [None] * 100
    assert isinstance(done[100], Problem) and done[100].status == 409


@pytest.mark.parametrize("position", [1, 3])
def test_a_reached_position_returns_at_once(report_db: Settings, position: int) -> None:
    conninfo = report_db.postgres.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute("insert into readmodel.tenant_positions values ('acme', 3)")

    async def scenario() -> None:
        watcher = PositionWatcher(conninfo)
        runner = asyncio.create_task(watcher.run())
        await watcher.wait_for("acme", position, 5)
        runner.cancel()

    asyncio.run(scenario())
