"""Apply log records to a read-model schema in PostgreSQL, exactly once.

One batch = one PostgreSQL transaction that (1) locks the schema's positions, (2) skips
every record whose tenant sequence is already applied, (3) applies the fold's changes,
collapsed per key in memory (a tick first writes the pending changes of the tables it
reads, ``tick_store.READS``, then reads them in the same transaction; the rest — the
audit index, the daily volume — is written once, at the end of the batch), (4) advances
the per-partition offset and per-tenant sequence, and (5) queues published scores in the
outbox — then commits. A crash before the commit loses nothing (Kafka redelivers), after
it nothing is applied twice (the sequences say so). A record whose tenant sequence is
ahead of the stored one means the schema was swapped under us (a rebuild): the batch
stops for that partition and the consumer rewinds to the stored offset.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg.types.json import Jsonb

from events.deadletter import decode_json_proven
from projections import late
from projections import tables as t
from projections.database import scalar
from projections.errors import ReadModelOutdated
from projections.fold import fold_record, is_boundary, is_tick, order, position_of
from projections.keyring import Keyring
from projections.scores import tick_day
from projections.store import Pending, apply_changes
from projections.tables import Upsert, ddl
from projections.tick_store import READS, Judgements, score_tick
from schemas.validation import Problem, scrub

log = structlog.get_logger(__name__)

READ_MODEL_SCHEMA = "readmodel"


@dataclass(frozen=True)
class LogMessage:
    """One record of the log topic as a runner sees it; ``record`` is None when its bytes
    are not a JSON object (``problem`` then says why)."""

    partition: int
    offset: int
    record: dict[str, Any] | None
    problem: Problem | None = None
    # The bytes as Kafka holds them, for a consumer that must keep them exactly (the archiver).
    value: bytes | None = field(default=None, repr=False, compare=False)
    # The bytes proved the record holds only storable values (``schemas.validation.proven_safe``).
    known_safe: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, partition: int, offset: int, value: bytes | None) -> LogMessage:
        """Never raises: garbage bytes become a message with a problem, for quarantine."""
        raw, problem, known_safe = decode_json_proven(value)
        if problem is None and not isinstance(raw, dict):
            problem = Problem("$", "object_type", "a log record must be a JSON object")
        record = raw if problem is None else None
        return cls(partition, offset, record, problem, value, known_safe)  # type: ignore[arg-type]


def quarantine_row(message: LogMessage, problem: Problem) -> dict[str, Any]:
    """Where a set-aside record sits and why, every text safe to store (the read models'
    quarantine and every log worker's use the same row)."""
    record = message.record or {}
    position = position_of(record)
    return {
        "log_partition": message.partition,
        "log_offset": message.offset,
        "tenant_id": scrub(position[0], 128) if position else None,
        "sequence": position[1] if position else None,
        "record_id": scrub(record["id"], 128) if isinstance(record.get("id"), str) else None,
        "type": scrub(record["type"], 128) if isinstance(record.get("type"), str) else None,
        "rule": scrub(problem.rule, 64),
        "reason": scrub(f"{problem.field}: {problem.message}"),
    }


@dataclass
class BatchOutcome:
    applied: int = 0
    skipped: int = 0
    quarantined: int = 0
    rewind: dict[int, int] = field(default_factory=dict)  # partition -> offset to seek to


def schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone() is not None


def ddl_fingerprint() -> str:
    return hashlib.sha256(ddl("readmodel").encode()).hexdigest()


def create_schema(conn: psycopg.Connection, schema: str, *, indexes_later: Collection[str] = ()) -> None:
    """The read-model tables in a new ``schema``; without the secondary indexes of the tables
    named in ``indexes_later`` (a rebuild's load creates them afterwards: ``tables.index_ddl``)."""
    with conn.transaction():
        conn.execute(sql.SQL(ddl(schema, later=indexes_later)))  # type: ignore[arg-type, unused-ignore]
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
        has_meta = scalar(conn, "select to_regclass(%s)", [f'"{schema}".meta'])
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
    return dict(conn.execute(query, [topic]).fetchall())  # type: ignore[arg-type, unused-ignore]


def score_payload(row: Mapping[str, Any], tick: Mapping[str, Any]) -> dict[str, Any]:
    """The published record of ``skillmind.engagement-scores.v1`` (see the README's contract)
    for one ``daily_scores`` row."""
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
    """Applies batches of log messages to one read-model schema (the live one or a rebuild).

    ``contiguous``: the caller reads each partition from its stored offset on, without
    holes (a rebuild), so a sequence gap is in the log itself and is quarantined at once.
    Otherwise (the live consumer, which may resume too far) the first gap at a stored
    offset asks for a rewind there, and the same gap met again from there is quarantined.
    ``new_keys``: tables every key the fold writes is new to (a rebuild's fresh schema and
    ``audit_index``, one row per applied record): written by plain COPY, without a conflict
    check.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        topic: str,
        *,
        schema: str = READ_MODEL_SCHEMA,
        publish: bool = True,
        contiguous: bool = False,
        keyring: Keyring | None = None,
        new_keys: frozenset[str] = frozenset(),
        keys_conn: psycopg.Connection | None = None,
    ) -> None:
        self.conn, self.topic, self.schema, self.publish = conn, topic, schema, publish
        self.contiguous = contiguous
        self.keyring = keyring  # None: sealed personal fields read as erased
        # Where ``subject_keys`` lives when the read models are built in another database
        # (a replay into a spare one); None: the same connection.
        self.keys_conn = keys_conn
        self.new_keys = new_keys
        self._rewound_to: dict[int, int] = {}  # partition -> stored offset we last rewound to
        self.judgements = Judgements()

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def apply(self, messages: Sequence[LogMessage], *, redelivery_by_offset: bool = True) -> BatchOutcome:
        """Apply a batch in one transaction; see the module docstring for the order of work.

        A value the database refuses (``psycopg.DataError``) fails the fast path, which
        collapses rows across records; the batch is then re-applied record by record in
        savepoints and the refused record quarantined. ``redelivery_by_offset=False`` is for
        in-place re-folds that re-read records below the stored offsets on purpose.
        """
        try:
            return self._apply(messages, careful=False, by_offset=redelivery_by_offset)
        except psycopg.errors.DataError as err:
            log.warning("projections.careful_batch", topic=self.topic, error=scrub(str(err)))
            return self._apply(messages, careful=True, by_offset=redelivery_by_offset)

    def _apply(self, messages: Sequence[LogMessage], *, careful: bool, by_offset: bool) -> BatchOutcome:
        with self.conn.transaction(), self.conn.cursor() as cur:
            # Serialises writers of this schema (a live runner and a stray second one).
            cur.execute(sql.SQL("lock table {} in share row exclusive mode").format(self._table("tenant_positions")))
            batch = _Batch(self, cur, careful, stored_offsets(self.conn, self.schema, self.topic), by_offset)
            positions = [position_of(m.record) for m in messages]
            tenants = {p[0] for p in positions if p}
            batch.applied_seq = dict(
                cur.execute(
                    sql.SQL("select tenant_id, sequence from {} where tenant_id = any(%s)").format(
                        self._table("tenant_positions")
                    ),
                    [list(tenants)],
                ).fetchall()
            )  # type: ignore[arg-type, unused-ignore]
            for message, position in zip(messages, positions, strict=True):
                batch.take(message, position)
            batch.flush()
            self._advance(cur, batch.next_offsets, batch.applied_seq, tenants)
            if batch.outbox:
                cur.executemany(
                    "insert into score_outbox (record_id, tenant_id, payload) values (%s, %s, %s)", batch.outbox
                )
            batch.outcome.rewind = {p: batch.stored.get(p, 0) for p in batch.stopped}
        # Remembered only once committed: a rolled-back attempt must not count as a rewind.
        self._rewound_to.update(batch.outcome.rewind)
        return batch.outcome

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


@dataclass
class _Batch:
    """The state of one ``ReadModelWriter`` transaction while it takes records in order."""

    writer: ReadModelWriter
    cur: psycopg.Cursor
    careful: bool
    stored: dict[int, int]
    by_offset: bool
    applied_seq: dict[str, int] = field(default_factory=dict)
    pending: Pending = field(default_factory=Pending)
    outbox: list[tuple[str, str, Jsonb]] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    stopped: set[int] = field(default_factory=set)
    outcome: BatchOutcome = field(default_factory=BatchOutcome)

    def take(self, message: LogMessage, position: tuple[str, int] | None) -> None:
        """Take the next message; ``position`` is ``position_of(message.record)``."""
        partition = message.partition
        if partition in self.stopped:
            return
        if self.by_offset and message.offset < self.stored.get(partition, 0):
            self.outcome.skipped += 1  # a redelivery: this offset is applied already
            return
        if message.record is None or position is None:
            problem = message.problem or Problem("sequence", "no_position", "no string tenantid and integer sequence")
            self._quarantine(message, problem)
        else:
            self._take_positioned(message, message.record, position)

    def _take_positioned(self, message: LogMessage, record: dict[str, Any], position: tuple[str, int]) -> None:
        tenant, sequence = position
        expected = self.applied_seq.get(tenant, 0) + 1
        verdict = order(record, self.applied_seq)
        if verdict == "seen":
            if self.by_offset:  # a second record claiming an applied sequence: not the sequencer's
                self._quarantine(message, Problem("sequence", "sequence_replayed", f"{tenant} is at {expected - 1}"))
            else:
                self.outcome.skipped += 1
                self.next_offsets[message.partition] = message.offset + 1
            return
        if verdict == "gap":
            if self.writer.contiguous or self.writer._rewound_to.get(message.partition) == self.stored.get(
                message.partition, 0
            ):
                self._quarantine(message, Problem("sequence", "sequence_gap", f"expected {expected}, got {sequence}"))
            else:
                self.stopped.add(message.partition)
            return
        if is_tick(record):
            self.flush(READS)  # the tick reads the facts written before it
        elif is_boundary(record):
            self.flush()  # a retention receipt removes rows: everything before it is written first
        changes = self._fold(message, record)
        if changes is None:
            pass  # quarantined: the store refused the tick's scores
        elif isinstance(changes, Problem):
            self._quarantine(message, changes)
        elif self._write(message, changes):
            self.outcome.applied += 1
        self.applied_seq[tenant] = sequence
        self.next_offsets[message.partition] = message.offset + 1

    def _fold(self, message: LogMessage, record: dict[str, Any]) -> list[Upsert] | Problem | None:
        """The record's changes; a tick writes its scores here. In the careful path a tick
        runs in a savepoint, and scores the store refuses quarantine it (None)."""
        safe = message.known_safe
        if not (self.careful and is_tick(record)):
            return fold_record(record, self._score_tick, self._unseal, known_safe=safe)
        try:
            with self.cur.connection.transaction():
                return fold_record(record, self._score_tick, self._unseal, known_safe=safe)
        except psycopg.errors.DataError as err:
            self._quarantine(message, Problem("$", "store_refused", str(err).splitlines()[0]))
            return None

    def _unseal(self, tenant: str, subject: str, envelope: Mapping[str, Any], event_type: str) -> dict[str, Any] | None:
        keyring = self.writer.keyring
        if keyring is None:
            return None
        return keyring.unseal(self.writer.keys_conn or self.cur.connection, tenant, subject, envelope, event_type)

    def _score_tick(self, record: Mapping[str, Any]) -> list[Upsert]:
        """Score the tick's day and its tenant's stale days set-based (projections/tick_store.py),
        queue what to publish; the days' new versions are the changes."""
        tenant = record["tenantid"]
        days, rows = score_tick(
            self.cur,
            self.writer.schema,
            tenant,
            tick_day(record),
            record,
            judgements=self.writer.judgements,
            returning=self.writer.publish,
        )
        self.outbox += [(p["id"], tenant, Jsonb(p)) for p in (score_payload(row, record) for row in rows)]
        return late.scored(tenant, days, record["sequence"])

    def _write(self, message: LogMessage, changes: list[Upsert]) -> bool:
        """Queue (fast path) or write in a savepoint (careful path); False if quarantined."""
        if not self.careful:
            self.pending.add(changes)
            if changes and is_boundary(message.record or {}) and not is_tick(message.record or {}):
                self.flush()  # the receipt's purge runs now, before any later record's rows
            return True
        try:
            with self.cur.connection.transaction():
                apply_changes(self.cur, self.writer.schema, changes)
            return True
        except psycopg.errors.DataError as err:
            self._quarantine(message, Problem("$", "store_refused", str(err).splitlines()[0]))
            return False

    def _quarantine(self, message: LogMessage, problem: Problem) -> None:
        row = quarantine_row(message, problem)
        log.warning("projections.quarantined", topic=self.writer.topic, **row)
        self.pending.add([Upsert(t.QUARANTINE, row)])
        self.next_offsets[message.partition] = message.offset + 1
        self.outcome.quarantined += 1
        if self.careful:
            self.flush()

    def flush(self, only: frozenset[str] | None = None) -> None:
        """Write the pending changes (to the tables named in ``only``, if given)."""
        self.pending.write(self.cur, self.writer.schema, only, self.writer.new_keys)


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
