"""Apply log records to a read-model schema in PostgreSQL, exactly once.

One batch = one PostgreSQL transaction that (1) locks the schema's positions, (2) skips
every record whose tenant sequence is already applied, (3) applies the fold's changes
(a tick first flushes the changes before it, then reads the facts in the same
transaction), (4) advances the per-partition offset and per-tenant sequence, and (5)
queues published scores in the outbox — then commits. A crash before the commit loses
nothing (Kafka redelivers), after it nothing is applied twice (the sequences say so).
A record whose tenant sequence is ahead of the stored one means the schema was swapped
under us (a rebuild): the batch stops for that partition and the consumer rewinds to
the stored offset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from projections import tables as t
from projections.fold import changes_for, is_tick, order
from projections.store import apply_changes, load_tick_rows
from projections.tables import Upsert, ddl

READ_MODEL_SCHEMA = "readmodel"


@dataclass(frozen=True)
class LogMessage:
    partition: int
    offset: int
    record: dict[str, Any]

    @classmethod
    def parse(cls, partition: int, offset: int, value: bytes) -> LogMessage:
        return cls(partition, offset, json.loads(value))


@dataclass
class BatchOutcome:
    applied: int = 0
    skipped: int = 0
    rewind: dict[int, int] = field(default_factory=dict)  # partition -> offset to seek to


def schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone() is not None


class ReadModelOutdated(Exception):
    """The read-model schema was built from other table definitions than this code's."""


def ddl_fingerprint() -> str:
    return hashlib.sha256(ddl("readmodel").encode()).hexdigest()


def create_schema(conn: psycopg.Connection, schema: str) -> None:
    with conn.transaction():
        conn.execute(sql.SQL(ddl(schema)))  # type: ignore[arg-type]
        conn.execute(sql.SQL("create table {} (ddl_sha256 text not null)").format(sql.Identifier(schema, "meta")))
        conn.execute(sql.SQL("insert into {} values (%s)").format(sql.Identifier(schema, "meta")), [ddl_fingerprint()])
        conn.execute(
            sql.SQL("create table {} (tenant_id text primary key, sequence bigint not null)").format(
                sql.Identifier(schema, "tenant_positions")
            )
        )


def ensure_schema(conn: psycopg.Connection, schema: str = READ_MODEL_SCHEMA) -> None:
    """Create the read-model schema if missing; refuse one built from other table definitions."""
    if schema_exists(conn, schema):
        has_meta = conn.execute("select to_regclass(%s)", [f'"{schema}".meta']).fetchone()[0]
        row = (
            conn.execute(sql.SQL("select ddl_sha256 from {}").format(sql.Identifier(schema, "meta"))).fetchone()
            if has_meta
            else None
        )
        if row is None or row[0] != ddl_fingerprint():
            raise ReadModelOutdated(
                f"the read models in schema {schema!r} were built by another version of the tables; "
                "rebuild them from the log: skillmind replay"
            )
    else:
        with contextlib.suppress(psycopg.errors.DuplicateSchema):  # another runner was first
            create_schema(conn, schema)


def stored_offsets(conn: psycopg.Connection, schema: str, topic: str) -> dict[int, int]:
    query = sql.SQL("select partition, next_offset from {} where topic = %s").format(
        sql.Identifier(schema, "positions")
    )
    return dict(conn.execute(query, [topic]).fetchall())  # type: ignore[arg-type]


def score_payload(change: Upsert, tick: dict[str, Any]) -> dict[str, Any]:
    """The published record of ``skillmind.engagement-scores.v1`` (see the README's contract)."""
    row = change.row
    return {
        "id": f"{row['tenant_id']}:{row['learner_id']}:{row['day']}:{row['tick_sequence']}",
        "tenantid": row["tenant_id"],
        "learner_id": row["learner_id"],
        "day": row["day"].isoformat(),
        "cohort_id": row["cohort_id"],
        "program_id": row["program_id"],
        "score": row["score"],
        **{c: None if row[c] is None else str(row[c]) for c in ("signin", "attendance", "progress", "submissions")},
        "at_risk": row["at_risk"],
        "active_7d": row["active_7d"],
        "completed": row["completed"],
        "tick_sequence": row["tick_sequence"],
        "tick_id": tick["id"],
    }


class ReadModelWriter:
    """Applies batches of log messages to one read-model schema (the live one or a rebuild)."""

    def __init__(
        self, conn: psycopg.Connection, topic: str, *, schema: str = READ_MODEL_SCHEMA, publish: bool = True
    ) -> None:
        self.conn, self.topic, self.schema, self.publish = conn, topic, schema, publish

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def apply(self, messages: Sequence[LogMessage]) -> BatchOutcome:
        outcome = BatchOutcome()
        with self.conn.transaction(), self.conn.cursor() as cur:
            # Serialises writers of this schema (a live runner and a stray second one).
            cur.execute(sql.SQL("lock table {} in share row exclusive mode").format(self._table("tenant_positions")))
            tenants = {m.record["tenantid"] for m in messages}
            applied_seq: dict[str, int] = dict(
                cur.execute(
                    sql.SQL("select tenant_id, sequence from {} where tenant_id = any(%s)").format(
                        self._table("tenant_positions")
                    ),
                    [list(tenants)],
                ).fetchall()
            )  # type: ignore[arg-type]
            pending: list[Upsert] = []
            outbox: list[tuple[str, str, Jsonb]] = []
            next_offsets: dict[int, int] = {}
            stopped: set[int] = set()
            for message in messages:
                if message.partition in stopped:
                    continue
                record, tenant = message.record, message.record["tenantid"]
                position = order(record, applied_seq)
                if position == "seen":
                    outcome.skipped += 1
                    next_offsets[message.partition] = message.offset + 1
                    continue
                if position == "gap":
                    stopped.add(message.partition)
                    continue
                if is_tick(record):
                    apply_changes(cur, self.schema, pending)
                    pending = []
                    changes = changes_for(record, lambda tn, day: self._load(cur, tn, day))
                    apply_changes(cur, self.schema, changes)
                    if self.publish:
                        outbox += [
                            (p["id"], tenant, Jsonb(p))
                            for p in (score_payload(c, record) for c in changes if c.table is t.DAILY_SCORES)
                        ]
                else:
                    pending += changes_for(record, _no_rows)
                applied_seq[tenant] = record["sequence"]
                next_offsets[message.partition] = message.offset + 1
                outcome.applied += 1
            apply_changes(cur, self.schema, pending)
            self._advance(cur, next_offsets, applied_seq, tenants)
            if outbox:
                cur.executemany("insert into score_outbox (record_id, tenant_id, payload) values (%s, %s, %s)", outbox)
            if stopped:
                stored = stored_offsets(self.conn, self.schema, self.topic)
                outcome.rewind = {p: stored.get(p, 0) for p in stopped}
        return outcome

    def _load(self, cur: psycopg.Cursor, tenant: str, day: date) -> dict[str, list[dict[str, Any]]]:
        return load_tick_rows(cur, self.schema, tenant, day)

    def _advance(
        self,
        cur: psycopg.Cursor,
        next_offsets: dict[int, int],
        applied_seq: dict[str, int],
        tenants: set[str],
    ) -> None:
        cur.executemany(
            sql.SQL(
                "insert into {} (topic, partition, next_offset) values (%s, %s, %s) "
                "on conflict (topic, partition) do update set next_offset = "
                "greatest(excluded.next_offset, {}.next_offset)"
            ).format(self._table("positions"), sql.Identifier("positions")),
            [(self.topic, p, o) for p, o in next_offsets.items()],
        )
        cur.executemany(
            sql.SQL(
                "insert into {} (tenant_id, sequence) values (%s, %s) on conflict (tenant_id) "
                "do update set sequence = excluded.sequence"
            ).format(self._table("tenant_positions")),
            [(tn, s) for tn, s in applied_seq.items() if tn in tenants],
        )


def _no_rows(_tenant: str, _day: date) -> dict[str, list[dict[str, Any]]]:
    raise AssertionError("only ticks read facts")


def swap_in(conn: psycopg.Connection, rebuilt: str, live: str = READ_MODEL_SCHEMA) -> None:
    """Replace the live schema by a rebuilt one in a single transaction (readers never see a mix)."""
    retired = f"{live}_retired"
    with conn.transaction():
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(retired)))
        if schema_exists(conn, live):
            conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(live), sql.Identifier(retired)))
        conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(rebuilt), sql.Identifier(live)))
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(retired)))


__all__ = [
    "READ_MODEL_SCHEMA",
    "BatchOutcome",
    "LogMessage",
    "ReadModelWriter",
    "ensure_schema",
    "stored_offsets",
    "swap_in",
    "t",
]
