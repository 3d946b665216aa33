"""Rebuild (``skillmind replay``): a confluent-kafka batch reader over the whole log,
through the same ``ReadModelWriter`` the live faust agent uses, into a fresh schema;
then an atomic swap and a checksum per table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

import psycopg
import structlog
from confluent_kafka import Message
from psycopg import sql

from events.errors import LogError
from events.reader import read_to_end
from events.topics import topic_name
from projections.runner import (
    READ_MODEL_SCHEMA,
    LogMessage,
    ReadModelWriter,
    create_schema,
    swap_in,
)
from projections.store import table_checksums
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


def _parse(messages: list[Message]) -> list[LogMessage]:
    return [LogMessage.parse(m.partition(), m.offset(), m.value()) for m in messages]


def _chunks(messages: Iterator[Message], size: int) -> Iterator[list[Message]]:
    while chunk := list(islice(messages, size)):
        yield chunk


def rebuild(
    settings: Settings,
    *,
    database: str | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Replay the whole log into a fresh schema, swap it in atomically, return its checksums."""
    topic = topic_name(settings.kafka, "log")
    target = f"{READ_MODEL_SCHEMA}_rebuild"
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(target)))
        create_schema(conn, target)
        writer = ReadModelWriter(conn, topic, schema=target, publish=False)
        for chunk in _chunks(read_to_end(settings.kafka, topic), batch_size):
            outcome = writer.apply(_parse(chunk))
            if outcome.rewind:
                raise LogError(
                    f"the log has a sequence gap at partitions {sorted(outcome.rewind)}; "
                    "run `skillmind audit verify`"
                )
            if progress:
                progress(len(chunk))
        swap_in(conn, target)
        return table_checksums(conn, READ_MODEL_SCHEMA)


def checksums(settings: Settings, *, database: str | None = None) -> dict[str, str]:
    with psycopg.connect(settings.postgres.conninfo(database), autocommit=True) as conn:
        return table_checksums(conn, READ_MODEL_SCHEMA)
