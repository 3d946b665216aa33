"""Read-your-writes without a pool connection (or a thread) per waiting request.

One watcher per API process polls ``readmodel.tenant_positions`` over its own single
connection, only while someone waits, and only for the tenants being waited on;
each waiting request is an asyncio future resolved when its tenant reaches the
position. A hundred waiters cost one query every ``interval_s``, not a hundred.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import psycopg
import structlog
from psycopg import sql

from api.problems import Problem
from projections.runner import READ_MODEL_SCHEMA

log = structlog.get_logger(__name__)

_POSITIONS = sql.SQL("select tenant_id, sequence from {} where tenant_id = any(%s)").format(
    sql.Identifier(READ_MODEL_SCHEMA, "tenant_positions")
)


class PositionWatcher:
    """Start with :meth:`run` as a task of the app's event loop; await :meth:`wait_for` in requests."""

    def __init__(self, conninfo: str, *, interval_s: float = 0.05) -> None:
        self._conninfo = conninfo
        self._interval_s = interval_s
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = defaultdict(list)
        self._seen: dict[str, int] = {}
        self._someone_waits = asyncio.Event()

    async def wait_for(self, tenant: str, position: int, timeout_s: float) -> None:
        """Return once the read models hold ``position`` of ``tenant``'s log; 409 after ``timeout_s``."""
        if self._seen.get(tenant, 0) >= position:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (position, future)
        self._waiters[tenant].append(entry)
        self._someone_waits.set()
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise Problem(
                409,
                "Not yet visible",
                f"the read models have not reached position {position} of your log within {timeout_s:g} s "
                f"(they are at {self._seen.get(tenant, 0)}); use a position from a write's 202 answer and "
                "retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        finally:
            self._forget(tenant, entry)

    def _forget(self, tenant: str, entry: tuple[int, asyncio.Future[None]]) -> None:
        waiting = self._waiters.get(tenant, [])
        if entry in waiting:
            waiting.remove(entry)
        if not waiting:
            self._waiters.pop(tenant, None)

    async def run(self) -> None:
        """Poll while anyone waits; sleep on an event otherwise. Reconnects after errors."""
        conn: psycopg.AsyncConnection | None = None
        try:
            while True:
                await self._someone_waits.wait()
                try:
                    conn = conn or await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                    await self._poll(conn)
                except psycopg.Error as err:  # the waiters time out with a 409 meanwhile
                    log.warning("positions.poll_failed", error=str(err))
                    await _close(conn)
                    conn = None
                if not self._waiters:
                    self._someone_waits.clear()
                await asyncio.sleep(self._interval_s)
        finally:
            await _close(conn)

    async def _poll(self, conn: psycopg.AsyncConnection) -> None:
        tenants = list(self._waiters)
        if not tenants:
            return
        cur = await conn.execute(_POSITIONS, [tenants])
        for tenant, sequence in await cur.fetchall():
            self._seen[tenant] = sequence
            for position, future in self._waiters.get(tenant, []):
                if position <= sequence and not future.done():
                    future.set_result(None)


async def _close(conn: psycopg.AsyncConnection | None) -> None:
    if conn is not None:
        await conn.close()
