"""The sequencer's checkpoints in PostgreSQL, so recovery reads only the log after them.

Why PostgreSQL and not a compacted topic of ours: the dedupe window's ids (7 days of a
busy tenant: millions) do not fit one Kafka record, and a checkpoint spread over several
records would need its own atomic-snapshot protocol; a table takes them incrementally
(only the ids appended since the last checkpoint) in one transaction with the heads and
the offset, and drops expired ones with one ``delete``.

Why it is exact under crashes. A checkpoint says "the state after every committed record
of the partition before ``log_offset``". The sequencer saves one only between Kafka
transactions, with the offset after its last *committed* record (delivery reports), so a
checkpoint can lag the log — recovery then reads and adopts, by the usual rule, what
follows — but never lead it. Offsets only move forward (``for update`` on the row: a
fenced zombie's older checkpoint is refused), heads only to higher sequences, and a
checkpoint of another incarnation of the topic (``topic_id``) is never used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import psycopg

from events.errors import LogError
from events.sequencing import Checkpoint, Head, Unsaved


class CheckpointUnavailable(LogError):
    """The checkpoint store could not be read or written (recovery falls back to a full read)."""


class CheckpointStore:
    """Checkpoints of one log topic, one row of offsets per partition."""

    def __init__(self, conninfo: str, topic: str) -> None:
        self.conninfo, self.topic = conninfo, topic

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)

    def load(self, partition: int, topic_id: str) -> Checkpoint | None:
        """The partition's checkpoint, or None (none yet, or of another topic incarnation)."""
        key = [self.topic, partition]
        try:
            with self._connect() as conn:
                row = conn.execute(
                    "select topic_id, log_offset from sequencer_checkpoints where topic = %s and partition = %s", key
                ).fetchone()
                if row is None or row[0] != topic_id or row[1] < 0:
                    return None
                heads = conn.execute(
                    "select tenant_id, sequence, hash, appended_at from sequencer_heads "
                    "where topic = %s and partition = %s",
                    key,
                ).fetchall()
                ids = conn.execute(
                    "select tenant_id, event_id, appended_at from sequencer_recent_ids "
                    "where topic = %s and partition = %s order by appended_at",
                    key,
                ).fetchall()
        except psycopg.Error as err:
            raise CheckpointUnavailable(
                f"cannot read the sequencer checkpoint of {self.topic}[{partition}]{_hint(err)}"
            ) from err
        recent: dict[str, dict[str, datetime]] = {}
        for tenant, event_id, appended in ids:
            recent.setdefault(tenant, {})[event_id] = appended
        return Checkpoint(row[1], {t: Head(s, h, at) for t, s, h, at in heads}, recent)

    def save(
        self,
        partition: int,
        topic_id: str,
        log_offset: int,
        heads: Mapping[str, Head],
        unsaved: Unsaved,
        expired_before: datetime,
    ) -> bool:
        """Save the state at ``log_offset`` (``heads`` is the whole current state; ``unsaved``
        what changed since the last save). False when a newer checkpoint is there, or when
        the stored one cannot be extended (another topic incarnation) and ``unsaved`` is not
        the whole state."""
        key = [self.topic, partition]
        try:
            with self._connect() as conn, conn.transaction():
                conn.execute(
                    "insert into sequencer_checkpoints (topic, partition, topic_id, log_offset) "
                    "values (%s, %s, %s, -1) on conflict do nothing",
                    [*key, topic_id],
                )
                stored_id, stored_offset = conn.execute(
                    "select topic_id, log_offset from sequencer_checkpoints "
                    "where topic = %s and partition = %s for update",
                    key,
                ).fetchone()  # type: ignore[misc]
                fresh = stored_id != topic_id or stored_offset < 0
                if (fresh and not unsaved.everything) or (not fresh and stored_offset >= log_offset):
                    return False
                if fresh:
                    conn.execute("delete from sequencer_heads where topic = %s and partition = %s", key)
                    conn.execute("delete from sequencer_recent_ids where topic = %s and partition = %s", key)
                self._write(conn, partition, heads, unsaved, expired_before)
                conn.execute(
                    "update sequencer_checkpoints set topic_id = %s, log_offset = %s, saved_at = now() "
                    "where topic = %s and partition = %s",
                    [topic_id, log_offset, *key],
                )
            return True
        except psycopg.Error as err:
            raise CheckpointUnavailable(
                f"cannot save the sequencer checkpoint of {self.topic}[{partition}]{_hint(err)}"
            ) from err

    def _write(
        self,
        conn: psycopg.Connection,
        partition: int,
        heads: Mapping[str, Head],
        unsaved: Unsaved,
        expired_before: datetime,
    ) -> None:
        key = [self.topic, partition]
        conn.cursor().executemany(
            "insert into sequencer_heads as h values (%s, %s, %s, %s, %s, %s) on conflict "
            "(topic, partition, tenant_id) do update set sequence = excluded.sequence, hash = excluded.hash, "
            "appended_at = excluded.appended_at where excluded.sequence > h.sequence",
            [(*key, t, heads[t].sequence, heads[t].hash, heads[t].appended_at) for t in unsaved.tenants],
        )
        conn.execute(
            "create temp table if not exists new_ids (tenant_id text, event_id text, appended_at timestamptz) "
            "on commit delete rows"
        )
        with conn.cursor().copy("copy new_ids from stdin") as copy:
            for tenant, event_id, appended in unsaved.ids:
                if appended >= expired_before:
                    copy.write_row((tenant, event_id, appended))
        conn.execute(
            "insert into sequencer_recent_ids select %s, %s, tenant_id, event_id, appended_at from new_ids "
            "on conflict do nothing",
            key,
        )
        conn.execute(
            "delete from sequencer_recent_ids where topic = %s and partition = %s and appended_at < %s",
            [*key, expired_before],
        )


def _hint(err: psycopg.Error) -> str:
    if isinstance(err, psycopg.errors.UndefinedTable):
        return " (its tables are missing: apply the migrations with `skillmind bootstrap`)"
    return ""
