"""The archive's file format: one log message as one Parquet row, and back, losslessly.

Columns (``ARCHIVE_SCHEMA``): the CloudEvents envelope and our extensions, typed —
``time`` and ``appendedat`` as ``timestamp[us, UTC]``, ``sequence`` and
``schemaversion`` as int64 — ``data`` as JSON text, ``extensions`` as JSON text of any
other top-level attribute (null when none), where the message sat in Kafka
(``log_partition``, ``log_offset``), ``stub`` (a record whose content a retention purge
removed: only sequence, id, type, time, appendedat, prevhash and hash remain) and
``raw``: the message's bytes, kept only when the typed columns cannot give the record
back exactly (bytes written around the sequencer, a time not in the log's one textual
form). So ``to_record(to_row(m))`` is the record a reader of Kafka would parse, and a
replay from the archive folds exactly what a replay from Kafka folds.

Objects are hive-partitioned ``tenant=<id>/date=<YYYY-MM-DD>/`` by the UTC date of
``time`` (of ``appendedat`` when ``time`` is unreadable; 1970-01-01 when neither is).
A message with no tenant and sequence goes under ``tenant=_unsequenced`` (ids start with
a letter or digit, so no tenant can be named so). Pure: imports no Kafka, SQL or S3.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.types import format_utc, parse_utc

UNSEQUENCED = "_unsequenced"
UNKNOWN_DAY = date(1970, 1, 1)
TIMESTAMP = pa.timestamp("us", tz="UTC")
# Envelope attributes with a typed column of their own, and the Arrow type of each.
TYPED: dict[str, pa.DataType] = {
    "tenantid": pa.string(),
    "sequence": pa.int64(),
    "id": pa.string(),
    "type": pa.string(),
    "source": pa.string(),
    "subject": pa.string(),
    "time": TIMESTAMP,
    "appendedat": TIMESTAMP,
    "schemaversion": pa.int64(),
    "actor": pa.string(),
    "specversion": pa.string(),
    "datacontenttype": pa.string(),
    "dataschema": pa.string(),
    "prevhash": pa.string(),
    "hash": pa.string(),
}
ARCHIVE_SCHEMA = pa.schema(
    [
        *(pa.field(name, kind) for name, kind in TYPED.items()),
        pa.field("data", pa.string()),
        pa.field("extensions", pa.string()),
        pa.field("log_partition", pa.int32(), nullable=False),
        pa.field("log_offset", pa.int64(), nullable=False),
        pa.field("stub", pa.bool_(), nullable=False),
        pa.field("raw", pa.binary()),
    ]
)
# What a retention stub keeps of a record (issue 12): enough to check the chain's links.
STUB_FIELDS = ("tenantid", "sequence", "id", "type", "time", "appendedat", "prevhash", "hash")
_TIMES = ("time", "appendedat")
_INTS = ("sequence", "schemaversion")


@dataclass(frozen=True)
class Placement:
    """Where a message goes in the archive: its tenant (or ``UNSEQUENCED``), day, sequence."""

    tenant: str
    day: date
    sequence: int | None


def placement(record: Mapping[str, Any] | None) -> Placement:
    """The partition of a parsed message (``None`` for bytes that are not a JSON object)."""
    if record is None:
        return Placement(UNSEQUENCED, UNKNOWN_DAY, None)
    tenant, sequence = record.get("tenantid"), record.get("sequence")
    positioned = isinstance(tenant, str) and isinstance(sequence, int) and not isinstance(sequence, bool)
    if not positioned:
        return Placement(UNSEQUENCED, _day_of(record), None)
    return Placement(tenant, _day_of(record), sequence)  # type: ignore[arg-type]


def _day_of(record: Mapping[str, Any]) -> date:
    for name in _TIMES:
        try:
            return parse_utc(record.get(name)).date()
        except ValueError:
            continue
    return UNKNOWN_DAY


def _typed(name: str, value: Any) -> Any:
    """The column value of an envelope attribute; ValueError when it has another type."""
    if name in _TIMES:
        return parse_utc(value)
    if name in _INTS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} is not an integer")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def to_row(record: Mapping[str, Any] | None, raw: bytes | None, partition: int, offset: int) -> dict[str, Any]:
    """One Parquet row for a log message; ``raw`` is kept only if the columns lose anything."""
    bare: dict[str, Any] = {**dict.fromkeys(ARCHIVE_SCHEMA.names), "log_partition": partition, "log_offset": offset}
    bare["stub"] = False
    if record is None:
        return {**bare, "raw": raw}
    try:
        row = {**bare, **{k: _typed(k, record[k]) for k in TYPED if record.get(k) is not None}}
        row["data"] = _dumps(record["data"]) if "data" in record else None
        extra = {k: v for k, v in record.items() if k not in TYPED and k != "data"}
        row["extensions"] = _dumps(extra) if extra else None
    except (ValueError, TypeError):  # an attribute of another type: the bytes say it all
        return {**bare, "raw": raw}
    if to_record(row) != record:  # e.g. a time not in the log's one form, an explicit null
        row["raw"] = raw
    return row


def to_record(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record a row stands for (a stub gives only its ``STUB_FIELDS``); ``None`` when
    the row keeps raw bytes — the caller parses those exactly as it parses Kafka's."""
    if row.get("raw") is not None:
        return None
    record: dict[str, Any] = {}
    for name in TYPED:
        value = row.get(name)
        if value is not None:
            record[name] = format_utc(value) if name in _TIMES else value
    if row.get("data") is not None:
        record["data"] = json.loads(row["data"])
    if row.get("extensions") is not None:
        record.update(json.loads(row["extensions"]))
    return record


def stub_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row a retention purge leaves of a record: its ``STUB_FIELDS`` and position."""
    kept = {name: row.get(name) for name in (*STUB_FIELDS, "log_partition", "log_offset")}
    return {**dict.fromkeys(ARCHIVE_SCHEMA.names), **kept, "stub": True}


def parquet_bytes(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Rows as one Parquet file (zstd); the same rows give the same bytes."""
    table = pa.Table.from_pylist(list(rows), schema=ARCHIVE_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def read_rows(payload: bytes) -> list[dict[str, Any]]:
    """The rows of one archive file, in file order."""
    rows: list[dict[str, Any]] = pq.read_table(io.BytesIO(payload), schema=ARCHIVE_SCHEMA).to_pylist()
    return rows


def object_prefix(tenant: str, day: date) -> str:
    return f"tenant={tenant}/date={day.isoformat()}/"


def object_key(tenant: str, day: date, first: int, last: int, *, by: str = "seq") -> str:
    """``tenant=<id>/date=<day>/<by>-<first>-<last>.parquet``, zero-padded so names sort by
    range; ``by`` is ``seq`` for a tenant's records, ``offset`` for unsequenced messages."""
    return f"{object_prefix(tenant, day)}{by}-{first:012d}-{last:012d}.parquet"
