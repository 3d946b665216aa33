"""Apply fold changes to PostgreSQL, load a tenant's facts for a tick, checksum tables.

Changes are collapsed per key in memory first (the same merge rules as
``memory.merged``), then written with one ``executemany`` per table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from projections.memory import merged
from projections.purge import LEARNER_DAY_TABLES, purge_params, purge_sql
from projections.tables import ALL_TABLES, RETENTION_CUTS, Table, Upsert

COPY_THRESHOLD = 64  # rows; above it COPY into a staging table beats executemany ~5x


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


def _write(cur: psycopg.Cursor, schema: str, table: Table, rows: list[tuple[Any, ...]]) -> None:
    if len(rows) < COPY_THRESHOLD:
        values = sql.SQL("values ({})").format(sql.SQL(", ").join(sql.Placeholder() * len(table.columns)))
        cur.executemany(upsert_sql(schema, table, values), rows)
        return
    staging = sql.Identifier(f"staging_{table.name}")
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    cur.execute(
        sql.SQL("create temp table if not exists {} (like {}) on commit delete rows").format(
            staging, sql.Identifier(schema, table.name)
        )
    )
    with cur.copy(sql.SQL("copy {} ({}) from stdin").format(staging, columns)) as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(upsert_sql(schema, table, sql.SQL("select {} from {}").format(columns, staging)))
    cur.execute(sql.SQL("truncate {}").format(staging))


def apply_changes(cur: psycopg.Cursor, schema: str, changes: Iterable[Upsert]) -> int:
    """Write a batch of changes; several changes to one key collapse to the merged row."""
    collapsed: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for change in changes:
        rows = collapsed.setdefault(change.table, {})
        rows[change.key] = merged(change.table, rows.get(change.key), change.row)
    written = 0
    for table, rows in collapsed.items():
        _write(cur, schema, table, [tuple(row[c] for c in table.columns) for row in rows.values()])
        written += len(rows)
    for cut in collapsed.get(RETENTION_CUTS, {}).values():
        # A receipt's effect (projections/purge.py). The runner writes a receipt in a batch
        # of its own, so nothing before or after it in the log shares this statement.
        for table in LEARNER_DAY_TABLES:
            cur.execute(purge_sql(schema, table), purge_params(cut["tenant_id"], cut["learner_events_before"]))
    return written


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
