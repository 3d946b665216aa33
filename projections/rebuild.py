"""Rebuild (``skillmind replay``): a confluent-kafka batch reader over the whole log,
through the same ``ReadModelWriter`` the live faust agent uses, into a fresh schema;
then an atomic swap and a checksum per table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice

import psycopg
import structlog
from confluent_kafka import Message
from psycopg import sql

from events.partitioning import partition_for
from events.reader import partitions_of, read_to_end
from events.topics import topic_name
from projections.errors import ReplayBusy
from projections.keyring import Keyring
from projections.runner import (
    READ_MODEL_SCHEMA,
    LogMessage,
    ReadModelWriter,
    create_schema,
    stored_offsets,
    swap_in,
)
from projections.store import table_checksums
from projections.tables import ALL_TABLES, AUDIT_INDEX, index_ddl
from projections.tick_store import READS
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


# The tables whose secondary indexes no tick reads (the tick's reads: tick_store.READS).
LOAD_ONLY = frozenset(table.name for table in ALL_TABLES if table.indexes and table.name not in READS)

REPLAY_LOCK = 0x5C11_4E9  # one advisory lock for every replay of a database


@contextmanager
def _replay_lock(conn: psycopg.Connection) -> Iterator[None]:
    """One replay at a time per database: a second one refuses, saying so."""
    if not conn.execute("select pg_try_advisory_lock(%s)", [REPLAY_LOCK]).fetchone()[0]:  # type: ignore[index]
        raise ReplayBusy("another `skillmind replay` is running on this database; wait for it to finish")
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(%s)", [REPLAY_LOCK])


def _parse(messages: list[Message]) -> list[LogMessage]:
    return [LogMessage.parse(m.partition() or 0, m.offset() or 0, m.value()) for m in messages]


def _chunks(messages: Iterator[Message], size: int) -> Iterator[list[Message]]:
    while chunk := list(islice(messages, size)):
        yield chunk


# Where a rebuild reads the log from: given the database connection and a batch size,
# chunks of messages in offset order per partition, from offset 0, without holes.
Source = Callable[[psycopg.Connection, int], Iterator[list[LogMessage]]]


def kafka_source(settings: Settings) -> Source:
    """The whole log topic from offset 0 (the default source of a rebuild)."""
    topic = topic_name(settings.kafka, "log")

    def read(conn: psycopg.Connection, batch_size: int) -> Iterator[list[LogMessage]]:
        for chunk in _chunks(read_to_end(settings.kafka, topic), batch_size):
            yield _parse(chunk)

    return read


def _autovacuum(conn: psycopg.Connection, schema: str, *, enabled: bool) -> None:
    """Switch autovacuum off for the tables of ``schema``, or back to the server's setting."""
    option = sql.SQL("reset (autovacuum_enabled)" if enabled else "set (autovacuum_enabled = false)")
    for table in ALL_TABLES:
        conn.execute(sql.SQL("alter table {} ").format(sql.Identifier(schema, table.name)) + option)


def rebuild(
    settings: Settings,
    *,
    database: str | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    source: Source | None = None,
) -> dict[str, str]:
    """Replay the whole log into a fresh schema, swap it in atomically, return its checksums.

    ``source`` (default: the Kafka topic from offset 0) may be another reader of the same
    messages — the archive and then the Kafka tail (``jobs.archive_replay``)."""
    topic = topic_name(settings.kafka, "log")
    target = f"{READ_MODEL_SCHEMA}_rebuild"
    read = source or kafka_source(settings)
    elsewhere = database is not None and database != settings.postgres.dbname
    with (
        psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn,
        _replay_lock(conn),
        # The subjects' data keys stay in the configured database (the API made them there):
        # a replay into another database reads them from it, else every name reads as erased.
        psycopg.connect(settings.postgres.conninfo(), autocommit=True)
        if elsewhere
        else contextlib.nullcontext() as keys_conn,
    ):
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(target)))
        # Indexes nobody reads during the load are built after it, in one pass each.
        create_schema(conn, target, indexes_later=LOAD_ONLY)
        # No autovacuum during the load: an analyze of the growing tables at a random point
        # leaves the ticks stale statistics (forced analyses made their counts ~5× slower; one
        # 0.1× replay took 62 s of backend CPU instead of 5 s). Switched back on at the end.
        _autovacuum(conn, target, enabled=False)
        # Read from offset 0 without holes: a sequence gap is in the log and is quarantined.
        # The schema is fresh and each (tenant, sequence) is applied once: its audit rows are new.
        writer = ReadModelWriter(
            conn,
            topic,
            schema=target,
            publish=False,
            contiguous=True,
            keyring=Keyring(settings.privacy.kek_bytes()),
            new_keys=frozenset({AUDIT_INDEX.name}),
            keys_conn=keys_conn,
        )
        for chunk in read(conn, batch_size):
            writer.apply(chunk)
            if progress:
                progress(len(chunk))
        with conn.transaction():
            for statement in index_ddl(target, LOAD_ONLY):
                conn.execute(statement)  # type: ignore[arg-type, unused-ignore]
            _autovacuum(conn, target, enabled=True)
        swap_in(conn, target)
        return table_checksums(conn, READ_MODEL_SCHEMA)


def checksums(settings: Settings, *, database: str | None = None) -> dict[str, str]:
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        return table_checksums(conn, READ_MODEL_SCHEMA)


def rebuild_tenant(settings: Settings, tenant: str, *, database: str | None = None) -> dict[str, str]:
    """Re-fold one tenant's records in place, in one transaction, up to where the live
    tables stand; returns that tenant's checksums. Live writers wait meanwhile."""
    topic = topic_name(settings.kafka, "log")
    partition = partition_for(tenant, len(partitions_of(settings.kafka, topic)))
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn, _replay_lock(conn):
        writer = ReadModelWriter(
            conn, topic, publish=False, contiguous=True, keyring=Keyring(settings.privacy.kek_bytes())
        )
        with conn.transaction():
            conn.execute(
                sql.SQL("lock table {} in share row exclusive mode").format(
                    sql.Identifier(READ_MODEL_SCHEMA, "tenant_positions")
                )
            )
            stop_at = stored_offsets(conn, READ_MODEL_SCHEMA, topic).get(partition, 0)
            for name in [*(table.name for table in ALL_TABLES), "tenant_positions"]:
                conn.execute(
                    sql.SQL("delete from {} where tenant_id = %s").format(sql.Identifier(READ_MODEL_SCHEMA, name)),
                    [tenant],
                )
            mine = (
                m
                for m in read_to_end(settings.kafka, topic, [partition])
                if (m.offset() or 0) < stop_at and m.key() == tenant.encode()
            )
            for chunk in _chunks(mine, 5000):
                writer.apply(
                    [m for m in _parse(chunk) if m.record and m.record.get("tenantid") == tenant],
                    redelivery_by_offset=False,
                )
        return table_checksums(conn, READ_MODEL_SCHEMA, tenant=tenant)
