"""Apply fold changes to PostgreSQL, load a tenant's facts for a tick, checksum tables.

Changes are collapsed per key in memory first (the same merge rules as
``memory.merged``), then written with one ``executemany`` per table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import psycopg
from psycopg import sql

from projections.memory import merged
from projections.purge import LEARNER_DAY_TABLES, purge_params, purge_sql
from projections.tables import ALL_TABLES, RETENTION_CUTS, Table, Upsert

COPY_THRESHOLD = 64  # rows; above it COPY into a staging table beats executemany ~5x
TRUNCATE_FROM = 10_000  # staged rows from which truncate empties the staging table faster than delete


def _on_conflict(table: Table) -> sql.Composable:
    """The table's merge rule in SQL (mirrors ``memory.merged``)."""
    if table.merge == "keep_first" or not table.value_columns:
        return sql.SQL("do nothing")
    if table.merge == "add_count":
        return sql.SQL("do update set count = {t}.count + excluded.count").format(t=sql.Identifier(table.name))
    if table.merge == "keep_min_day":
        return sql.SQL("do update set day = least({t}.day, excluded.day)").format(t=sql.Identifier(table.name))
    template = "{c} = excluded.{c}" if table.merge == "replace" else "{c} = coalesce(excluded.{c}, {t}.{c})"
    return sql.SQL("do update set ") + sql.SQL(", ").join(
        sql.SQL(template).format(c=sql.Identifier(c), t=sql.Identifier(table.name)) for c in table.value_columns
    )


def upsert_sql(schema: str, table: Table, source: sql.Composable) -> sql.Composed:
    return sql.SQL("insert into {target} as {alias} ({columns}) {source} on conflict ({keys}) {action}").format(
        target=sql.Identifier(schema, table.name),
        alias=sql.Identifier(table.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        source=source,
        keys=sql.SQL(", ").join(map(sql.Identifier, table.key_columns)),
        action=_on_conflict(table),
    )


def insert_sql(schema: str, table: Table, source: sql.Composable) -> sql.Composed:
    """A plain insert of ``source`` (for keys known to be new: ``upsert_sql`` without its check)."""
    return sql.SQL("insert into {target} ({columns}) {source}").format(
        target=sql.Identifier(schema, table.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        source=source,
    )


def _copy(cur: psycopg.Cursor, target: sql.Identifier, table: Table, rows: list[tuple[Any, ...]]) -> None:
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    with cur.copy(sql.SQL("copy {} ({}) from stdin").format(target, columns)) as copy:
        for row in rows:
            copy.write_row(row)


def _write(cur: psycopg.Cursor, schema: str, table: Table, rows: list[tuple[Any, ...]], staged: set[str]) -> None:
    """Upsert ``rows``; ``staged``: the staging tables this transaction has made (made once)."""
    if len(rows) < COPY_THRESHOLD:
        values = sql.SQL("values ({})").format(sql.SQL(", ").join(sql.Placeholder() * len(table.columns)))
        cur.executemany(upsert_sql(schema, table, values), rows)
        return
    staging = sql.Identifier(f"staging_{table.name}")
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    if table.name not in staged:  # a rolled-back transaction takes its temp tables with it
        cur.execute(
            sql.SQL("create temp table if not exists {} (like {}) on commit delete rows").format(
                staging, sql.Identifier(schema, table.name)
            )
        )
        staged.add(table.name)
    _copy(cur, staging, table, rows)
    # One round trip. A few rows are emptied by delete (a truncate of a temp table made in an
    # earlier transaction costs a new file; dead rows go at commit: on commit delete rows).
    empty = "delete from {}" if len(rows) < TRUNCATE_FROM else "truncate {}"
    cur.execute(
        upsert_sql(schema, table, sql.SQL("select {} from {}").format(columns, staging))
        + sql.SQL("; " + empty).format(staging)
    )


class Pending:
    """Changes collapsed per table and key as they come (the merge rules of ``memory.merged``,
    in arrival order), written table by table when asked."""

    def __init__(self) -> None:
        # by table name (a str hashes once; a Table dataclass hashes all its fields each time)
        self.tables: dict[str, tuple[Table, dict[tuple[Any, ...], dict[str, Any]]]] = {}
        self.staged: set[str] = set()  # one Pending per transaction: its staging tables exist

    def add(self, changes: Iterable[Upsert]) -> None:
        tables = self.tables
        for change in changes:
            table = change.table
            entry = tables.get(table.name)
            if entry is None:
                entry = tables[table.name] = (table, {})
            rows = entry[1]
            key = table.key_of(change.row)
            old = rows.get(key)
            rows[key] = change.row if old is None else merged(table, old, change.row)

    def write(
        self, cur: psycopg.Cursor, schema: str, only: Collection[str] | None = None, new_keys: Collection[str] = ()
    ) -> int:
        """Write the pending rows (of the tables named in ``only``, if given) and forget them.
        The tables named in ``new_keys`` are known to hold none of these keys yet: plain COPY."""
        written = 0
        for name in [name for name in self.tables if only is None or name in only]:
            table, rows = self.tables.pop(name)
            values = list(map(table.row_tuple, rows.values()))
            if name in new_keys:
                _copy(cur, sql.Identifier(schema, name), table, values)
            else:
                _write(cur, schema, table, values, self.staged)
            written += len(rows)
            if table is RETENTION_CUTS:
                for cut in rows.values():
                    _purge(cur, schema, cut)
        return written


def _purge(cur: psycopg.Cursor, schema: str, cut: dict[str, Any]) -> None:
    """A retention receipt's effect (projections/purge.py). The runner writes a receipt's
    changes on their own (everything before it first, everything after it later), so the
    purge sees exactly the rows of the log up to the receipt."""
    for table in LEARNER_DAY_TABLES:
        cur.execute(purge_sql(schema, table), purge_params(cut["tenant_id"], cut["learner_events_before"]))


def apply_changes(cur: psycopg.Cursor, schema: str, changes: Iterable[Upsert]) -> int:
    """Write a batch of changes; several changes to one key collapse to the merged row."""
    pending = Pending()
    pending.add(changes)
    return pending.write(cur, schema)


def table_checksums(conn: psycopg.Connection, schema: str, *, tenant: str | None = None) -> dict[str, str]:
    """``rows:md5`` over every row in key order, per table (one tenant's rows if given):
    equal checksums ⇔ equal contents."""
    sums = {}
    where = sql.SQL("where tenant_id = %s") if tenant else sql.SQL("")
    for table in ALL_TABLES:
        order = sql.SQL(", ").join(map(sql.Identifier, table.key_columns))
        query = sql.SQL(
            "select count(*), coalesce(md5(string_agg(r::text, E'\\n' order by {o})), md5('')) from {t} r {w}"
        ).format(o=order, t=sql.Identifier(schema, table.name), w=where)
        count, digest = conn.execute(query, [tenant] if tenant else []).fetchone()  # type: ignore[misc]
        sums[table.name] = f"{count}:{digest}"
    return sums
