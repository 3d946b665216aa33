"""The API's PostgreSQL pool (psycopg_pool), created at start-up, closed at shutdown."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from skillmind.settings import PostgresSettings


def make_pool(pg: PostgresSettings) -> ConnectionPool:
    return ConnectionPool(pg.conninfo(), min_size=1, max_size=16, open=True, kwargs={"autocommit": True}, name="api")


def get_pool(request: Request) -> ConnectionPool:
    return request.app.state.pool


PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
