"""Write an audit export: the CSV of a tenant's log range and its signed manifest.

Pure apart from the file object it writes to: the export worker (or a test) hands it the
tenant's log records in sequence order and the active legal holds, and gets back the
manifest. Memory is bounded by one batch of rows, whatever the range.

What is signed is only what verifies: every record in the range is checked while it is
written (its hash recomputed, its link to the previous record, no gap in the sequence);
a log that fails raises :class:`AuditExportError` and nothing is signed.

The format (columns, the rule that rebuilds each hashed record, the manifest) is
documented in ``events/auditformat.py`` and the README ("Audit export").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.csv_writer import CsvWriter
from events.auditformat import COLUMNS, FORMAT, record_row, stub_row
from events.auditsign import key_id, sign
from events.chain import record_hash
from events.errors import LogError
from projections.holds import Hold, holds_covering, refs_of
from schemas.types import format_utc

log = structlog.get_logger(__name__)
BATCH_ROWS = 1000  # rows encoded per write: bounds memory, amortises the CSV writer's calls
CHECKPOINT = "audit.checkpoint"


class AuditExportError(LogError):
    """The log range cannot be exported as it is (a gap, a broken link, a wrong hash)."""


@dataclass(frozen=True)
class ExportRange:
    """Which records of the tenant's log an export holds: every sequence in
    [``first_sequence``, ``last_sequence``]; records of a type outside ``types`` (when given)
    are written as stubs so the chain still links."""

    first_sequence: int
    last_sequence: int
    types: frozenset[str] | None = None


@dataclass
class _Progress:
    """What the writer has seen so far (the manifest is built from it)."""

    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    rows: int = 0
    stubs: int = 0
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    head: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    hold_ids: set[str] = field(default_factory=set)


def _checked(record: Mapping[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``{sequence, prevhash, hash}`` of a record in range, after checking it belongs there."""
    link = {"sequence": record.get("sequence"), "prevhash": record.get("prevhash"), "hash": record.get("hash")}
    if previous is not None and link["sequence"] != previous["sequence"] + 1:
        raise AuditExportError(f"sequence {link['sequence']} follows {previous['sequence']}: the log has a gap")
    if previous is not None and link["prevhash"] != previous["hash"]:
        raise AuditExportError(f"record {link['sequence']} does not link to record {previous['sequence']}")
    try:
        actual = record_hash(record)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise AuditExportError(f"record {link['sequence']} cannot be hashed: {err}") from err
    if actual != link["hash"]:
        raise AuditExportError(f"record {link['sequence']}: hash does not match its content")
    return link


class _Sink:
    """CSV rows to a binary file, through the product's one CSV writer, hashing the bytes."""

    def __init__(self, out: BinaryIO, progress: _Progress) -> None:
        self.out, self.progress, self.csv = out, progress, CsvWriter()
        self.batch: list[list[Any]] = []

    def add(self, row: list[Any]) -> None:
        self.batch.append(row)
        if len(self.batch) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        data = self.csv.rows(self.batch).encode("utf-8")
        self.batch = []
        self.progress.digest.update(data)
        self.progress.size += len(data)
        self.out.write(data)


def _write_rows(
    records: Iterable[Mapping[str, Any]], sink: _Sink, tenant: str, scope: ExportRange, holds: Sequence[Hold]
) -> None:
    progress = sink.progress
    for record in records:
        if record.get("tenantid") != tenant or not isinstance(record.get("sequence"), int):
            continue
        sequence = record["sequence"]
        progress.head = {"sequence": sequence, "hash": record.get("hash")}
        if record.get("type") == CHECKPOINT and isinstance(record.get("data"), dict):
            progress.checkpoint = dict(record["data"])
        if not scope.first_sequence <= sequence <= scope.last_sequence:
            continue
        if progress.last is None and sequence != scope.first_sequence:
            raise AuditExportError(f"the records start at {sequence}, not at {scope.first_sequence}")
        link = _checked(record, progress.last)
        held = holds_covering(holds, refs_of(record))
        progress.hold_ids.update(held)
        wanted = scope.types is None or record.get("type") in scope.types
        sink.add(record_row(record, held) if wanted else stub_row(sequence, link["prevhash"], link["hash"], held))
        progress.rows += 1
        progress.stubs += 0 if wanted else 1
        progress.first = progress.first or link
        progress.last = link


def write_audit_export(
    records: Iterable[Mapping[str, Any]],
    out: BinaryIO,
    *,
    tenant: str,
    scope: ExportRange,
    signing_key: Ed25519PrivateKey,
    holds: Sequence[Hold] = (),
    request: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the CSV of ``tenant``'s records ``scope.first_sequence``..``scope.last_sequence``
    to ``out`` and return the signed manifest (a JSON-ready dict).

    ``records``: the tenant's log in sequence order, from at most ``first_sequence`` on and
    preferably to its end (records of other tenants are skipped): the records after the
    range give the manifest its ``chain_head`` and latest signed ``checkpoint``. ``holds``:
    the tenant's active legal holds (``projections.holds``). ``request``: what was asked
    (times, types), recorded in the manifest. Raises :class:`AuditExportError` when the
    range is incomplete or does not verify; ``out`` then holds a partial file to discard.
    """
    progress = _Progress()
    sink = _Sink(out, progress)
    sink.add(list(COLUMNS))
    _write_rows(records, sink, tenant, scope, holds)
    sink.flush()
    expected = scope.last_sequence - scope.first_sequence + 1
    if progress.rows != expected:
        raise AuditExportError(
            f"{progress.rows} of the {expected} records {scope.first_sequence}..{scope.last_sequence} "
            f"of tenant {tenant} were found in the log"
        )
    manifest = _manifest(tenant, scope, progress, request, now or datetime.now(UTC), signing_key)
    log.info("audit_export.written", tenant=tenant, rows=progress.rows, bytes=progress.size)
    return manifest


def _manifest(
    tenant: str,
    scope: ExportRange,
    progress: _Progress,
    request: Mapping[str, Any] | None,
    now: datetime,
    signing_key: Ed25519PrivateKey,
) -> dict[str, Any]:
    manifest = {
        "format": FORMAT,
        "tenant": tenant,
        "range": {
            "first_sequence": scope.first_sequence,
            "last_sequence": scope.last_sequence,
            "types": sorted(scope.types) if scope.types is not None else None,
        },
        "request": dict(request or {}),
        "row_count": progress.rows,
        "stub_rows": progress.stubs,
        "csv_bytes": progress.size,
        "csv_sha256": progress.digest.hexdigest(),
        "first": progress.first,
        "last": progress.last,
        "chain_head": progress.head,
        "checkpoint": progress.checkpoint,
        "legal_hold": bool(progress.hold_ids),
        "hold_ids": sorted(progress.hold_ids),
        "generated_at": format_utc(now),
        "key_id": key_id(signing_key.public_key()),
    }
    return {**manifest, "signature": sign(signing_key, manifest)}
