"""``skillmind snapshot``: the read-model tables as Parquet, for analysts without SQL access.

Every table of ``projections.tables.ALL_TABLES`` is read in one ``repeatable read``
transaction (one consistent moment across tables) and written, in key order, to
``_snapshots/day=<YYYY-MM-DD>/<table>.parquet`` in the archive bucket, with the log
positions the tables stood at in ``_snapshots/day=<day>/_positions.parquet`` (the
leading ``_`` keeps them out of a ``pyarrow.dataset`` over the archive, which skips such
names, and out of the ``tenant=*`` glob). The names
depend only on the day, so a second run that day (another scheduler, a retry) overwrites
the same objects. The scheduler runs it daily (``archive.snapshot_hour``/``_minute``, UTC).

Column types follow the table definitions (``text`` → string, ``bigint`` → int64,
``integer``/``smallint`` → int32/int16, ``boolean``, ``date`` → date32, ``numeric(p,s)``
→ decimal128(p, s), ``timestamptz`` → timestamp[us, UTC], ``T[]`` → list<T>).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from psycopg import sql

from jobs.objectstore import make_client
from projections.runner import READ_MODEL_SCHEMA
from projections.tables import ALL_TABLES, Table
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
_SIMPLE = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
_NUMERIC = re.compile(r"numeric\((\d+),\s*(\d+)\)")


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a read-model column type (see the module docstring)."""
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind.endswith("[]"):
        return pa.list_(arrow_type(kind[:-2]))
    match = _NUMERIC.fullmatch(kind)
    if match is None:
        raise ValueError(f"no Parquet type for column type {kind!r}")
    return pa.decimal128(int(match[1]), int(match[2]))


def table_schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(kind)) for name, kind in table.key + table.values])


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def snapshot_key(day: date, name: str) -> str:
    return f"_snapshots/day={day.isoformat()}/{name}.parquet"


def take_snapshot(settings: Settings, *, database: str | None = None, day: date | None = None) -> dict[str, int]:
    """Write every read-model table (and the positions) as Parquet; returns rows per table."""
    when = day or datetime.now(UTC).date()
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    counts: dict[str, int] = {}
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        for table in ALL_TABLES:
            order = sql.SQL(", ").join(map(sql.Identifier, table.key_columns))
            query = sql.SQL("select {c} from {t} order by {o}").format(
                c=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
                t=sql.Identifier(READ_MODEL_SCHEMA, table.name),
                o=order,
            )
            rows = conn.execute(query).fetchall()
            arrow = pa.Table.from_pylist([dict(zip(table.columns, r, strict=True)) for r in rows], table_schema(table))
            payload = _parquet(arrow)
            s3.put_object(bucket, snapshot_key(when, table.name), io.BytesIO(payload), len(payload))
            counts[table.name] = len(rows)
        positions = conn.execute(
            sql.SQL("select topic, partition, next_offset from {} order by 1, 2").format(
                sql.Identifier(READ_MODEL_SCHEMA, "positions")
            )
        ).fetchall()
    schema = pa.schema([("topic", pa.string()), ("partition", pa.int32()), ("next_offset", pa.int64())])
    payload = _parquet(pa.Table.from_pylist([dict(zip(schema.names, p, strict=True)) for p in positions], schema))
    s3.put_object(bucket, snapshot_key(when, "_positions"), io.BytesIO(payload), len(payload))
    log.info("snapshot.written", day=when.isoformat(), tables=len(counts), rows=sum(counts.values()))
    return counts
