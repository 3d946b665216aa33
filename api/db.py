"""The API's PostgreSQL pool (psycopg_pool), created at start-up, closed at shutdown."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from skillmind.settings import PostgresSettings


def make_pool(pg: PostgresSettings) -> ConnectionPool:
    pool: ConnectionPool = ConnectionPool(
        pg.conninfo(), min_size=1, max_size=16, open=True, kwargs={"autocommit": True}, name="api"
    )
    return pool


def get_pool(request: Request) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
