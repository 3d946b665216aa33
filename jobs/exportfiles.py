"""Export files from the report's rows, streamed: CSV, Parquet and PDF, with size, row count
and SHA-256 counted on the way (bounded memory for any number of rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from psycopg.types.string import TextLoader

from api.csv_writer import CsvWriter

CONTENT_TYPES = {
    "csv": "text/csv",
    "pdf": "application/pdf",
    "parquet": "application/vnd.apache.parquet",
    "audit": "text/csv",  # the audit export's CSV; its signed manifest is a second object
}
BATCH_ROWS = 5000

COMPONENT = pa.decimal128(7, 6)
PARQUET_SCHEMAS = {
    "learner": pa.schema(
        [
            ("tenant_id", pa.string()),
            ("learner_id", pa.string()),
            ("display_name", pa.string()),
            ("cohort_id", pa.string()),
            ("program_id", pa.string()),
            ("score", pa.int16()),
            ("signin", COMPONENT),
            ("attendance", COMPONENT),
            ("progress", COMPONENT),
            ("submissions", COMPONENT),
            ("at_risk", pa.bool_()),
            ("active_7d", pa.bool_()),
            ("completed", pa.bool_()),
        ]
    ),
    "group": pa.schema(
        [
            ("tenant_id", pa.string()),
            ("group_id", pa.string()),
            ("learners", pa.int64()),
            ("engagement", pa.float64()),
            ("weekly_active", pa.int64()),
            ("completion_rate", pa.decimal128(12, 4)),
            ("at_risk", pa.int64()),
        ]
    ),
}


class NumericTextLoader(TextLoader):
    """Loads ``numeric`` as PostgreSQL's text — what ``str(Decimal)`` prints — without building
    a Decimal per cell. Safe for the CSV writer only because no report column that is
    ``numeric`` can be negative (components and rates lie in [0, 1]): a text cell never
    starts with ``-`` here, so neutralisation never touches one."""


@dataclass
class Counted:
    """What was written: bytes, rows, SHA-256 of the bytes."""

    size_bytes: int = 0
    rows: int = 0
    sha256: str = ""


class HashingWriter:
    """A binary sink that counts and hashes what passes through it."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()

    # pyarrow treats the sink as a file: it asks these, and closes it when done — which
    # must not close the spool the upload still reads.
    closed = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        self.flush()


def batches(rows: Iterable[Sequence[Any]], size: int = BATCH_ROWS) -> Iterator[list[Sequence[Any]]]:
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_csv(rows: Iterable[Sequence[Any]], columns: Sequence[str], sink: HashingWriter) -> int:
    """The product's one CSV writer (formula-safe, RFC 4180), batch by batch."""
    writer, count = CsvWriter(), 0
    sink.write(writer.rows([columns]).encode())
    for batch in batches(rows):
        sink.write(writer.rows(batch).encode())
        count += len(batch)
    return count


def write_parquet(rows: Iterable[Sequence[Any]], columns: Sequence[str], kind: str, sink: HashingWriter) -> int:
    """Typed columns for analysts (``PARQUET_SCHEMAS``), one row group per batch."""
    schema = PARQUET_SCHEMAS[kind]
    assert tuple(schema.names) == tuple(columns), "the Parquet schema follows the report's columns"
    count = 0
    with pq.ParquetWriter(sink, schema) as writer:
        for batch in batches(rows):
            arrays = [pa.array([row[i] for row in batch], type=field.type) for i, field in enumerate(schema)]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            count += len(batch)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


def write_pdf(
    report: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    sink: HashingWriter,
    *,
    title: str,
    scope: str,
    generated_at: datetime,
) -> int:
    """The report as a PDF: tiles, the 8-week chart against target, the rows as a paged table."""
    from jobs.pdf_report import render_report_pdf  # matplotlib is heavy: only the PDF pays for it

    counted = _CountingRows(rows)
    render_report_pdf(report, sink, title=title, scope=scope, generated_at=generated_at, rows=counted)  # type: ignore[arg-type]
    return counted.count


class _CountingRows:
    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        for row in self.rows:
            self.count += 1
            yield row
