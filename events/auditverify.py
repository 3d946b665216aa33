"""``skillmind audit verify-export``: check an audit export offline, against its manifest.

Needs no service and nothing of the log: the CSV, its manifest and (for the signature)
the public key. Checks, stopping at the first failure and naming the first bad sequence:

1. the manifest's Ed25519 signature (when a public key is given) and that of the
   checkpoint it carries;
2. each row: the columns, the sequence (contiguous from the manifest's first), the link
   (``prevhash`` = the previous row's ``hash``, the manifest's first ``prevhash`` for the
   first row), the hash recomputed from the cells (``events/auditformat.py``), and the
   signed checkpoint's hash when its sequence is in the file;
3. the row count, the last row against the manifest's, the SHA-256 of the file's bytes,
   and that no signed checkpoint lies beyond the chain head (a truncated log).

Memory is bounded: the file is read once, as a stream.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events.auditformat import COLUMNS, FORMAT, INDEX, INTEGER_ATTRIBUTES, RowError, canonical_text, rebuilt_record
from events.auditsign import checkpoint_valid, key_id, signature_valid
from events.chain import jcs

_SEQ, _PREV, _HASH = INDEX["sequence"], INDEX["prevhash"], INDEX["hash"]
_DATA, _OTHER, _KIND = INDEX["data"], INDEX["other"], INDEX["row_kind"]
_INTS = tuple(INDEX[c] for c in INTEGER_ATTRIBUTES)
_NCOLS = len(COLUMNS)
csv.field_size_limit(2**31 - 1)  # a record's data may exceed the module's 128 KiB default


@dataclass(frozen=True)
class ExportVerdict:
    """The outcome: ``ok``, or the first bad ``sequence`` (None when no row is to blame) and why."""

    ok: bool
    rows: int
    reason: str = ""
    sequence: int | None = None
    signature_checked: bool = False

    def describe(self, manifest: Mapping[str, Any]) -> str:
        if not self.ok:
            where = f" at sequence {self.sequence}" if self.sequence is not None else ""
            return f"export of tenant {manifest.get('tenant')} is NOT intact{where}: {self.reason}"
        first, last = manifest.get("first") or {}, manifest.get("last") or {}
        signed = (
            f"signature valid (key {manifest.get('key_id')})"
            if self.signature_checked
            else "signature NOT checked (pass --public-key)"
        )
        return (
            f"verified {self.rows} rows of tenant {manifest.get('tenant')}, sequences "
            f"{first.get('sequence')}..{last.get('sequence')}: hashes, links, row count and file SHA-256 "
            f"match the manifest; {signed}"
        )


class _Broken(Exception):
    def __init__(self, reason: str, sequence: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.sequence = reason, sequence


class _HashingReader(io.RawIOBase):
    """A raw binary stream that hashes every byte read through it."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        view = memoryview(buffer)[:n]
        self.digest.update(view)
        self.size += n
        return n


def row_hash(row: list[str]) -> str:
    """SHA-256(prevhash ‖ RFC 8785(record rebuilt from the row)); :class:`RowError` on a bad cell."""
    for i in _INTS:
        cell = row[i]
        if cell and not (cell.isascii() and cell.isdigit() and (cell == "0" or cell[0] != "0")):
            raise RowError(f"{COLUMNS[i]} is not an integer: {cell[:40]!r}")
    if row[_OTHER]:
        canonical = jcs(rebuilt_record(row))
    else:
        if row[_DATA]:
            try:  # one JSON value, so the splice below cannot be fooled by a cell spanning attributes
                json.loads(row[_DATA])
            except ValueError as err:
                raise RowError(f"data is not JSON: {err}") from err
        canonical = canonical_text(row).encode()
    return hashlib.sha256(row[_PREV].encode() + canonical).hexdigest()


def _rows(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    header = next(reader, None)
    if header != list(COLUMNS):
        raise _Broken(f"the header is not the audit export's columns ({', '.join(COLUMNS)})")
    for row in reader:
        if len(row) != _NCOLS:
            raise _Broken(f"a row has {len(row)} cells, not {_NCOLS}", _int(row[_SEQ]) if row else None)
        yield row


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _check_row(row: list[str], expected: int, prevhash: str, heads: Mapping[int, str]) -> None:
    sequence = _int(row[_SEQ])
    if sequence != expected:
        raise _Broken(f"row with sequence {row[_SEQ][:20]!r} where {expected} was expected", expected)
    if row[_PREV] != prevhash:
        raise _Broken("prevhash is not the previous record's hash", expected)
    if row[_KIND] == "record":
        try:
            actual = row_hash(row)
        except (RowError, TypeError, ValueError) as err:
            raise _Broken(f"the record cannot be rebuilt: {err}", expected) from err
        if actual != row[_HASH]:
            raise _Broken("hash does not match the record's content", expected)
    elif row[_KIND] != "stub":
        raise _Broken(f"row_kind {row[_KIND][:20]!r} is neither record nor stub", expected)
    if heads.get(expected, row[_HASH]) != row[_HASH]:
        raise _Broken("hash differs from a signed checkpoint's head hash", expected)


def _check_rows(
    rows: Iterator[list[str]], manifest: Mapping[str, Any], heads: Mapping[int, str]
) -> tuple[int, dict[str, Any] | None]:
    """Every row in turn (``heads``: signed sequence -> hash); the count and last against the manifest."""
    first = manifest.get("first") or {}
    expected = first.get("sequence") or (manifest.get("range") or {}).get("first_sequence") or 1
    prevhash: str = str(first.get("prevhash"))
    count = 0
    last_seen: dict[str, Any] | None = None
    for row in rows:
        _check_row(row, expected, prevhash, heads)
        count += 1
        last_seen = {"sequence": expected, "prevhash": prevhash, "hash": row[_HASH]}
        prevhash, expected = row[_HASH], expected + 1
    if count != manifest.get("row_count"):
        raise _Broken(f"{count} rows where the manifest says {manifest.get('row_count')}", expected)
    if last_seen != manifest.get("last"):
        raise _Broken("the last row is not the manifest's last record", last_seen["sequence"] if last_seen else None)
    return count, last_seen


def _check_signatures(manifest: Mapping[str, Any], public_key: Ed25519PublicKey | None) -> None:
    if public_key is None:
        return
    if manifest.get("key_id") != key_id(public_key):
        raise _Broken(f"the manifest names key {manifest.get('key_id')}, not the given key {key_id(public_key)}")
    if not signature_valid(public_key, manifest, str(manifest.get("signature", ""))):
        raise _Broken("the manifest's signature is not valid: the manifest was changed or signed by another key")
    _check_checkpoint(manifest.get("checkpoint"), public_key)


def _check_checkpoint(checkpoint: Mapping[str, Any] | None, public_key: Ed25519PublicKey | None) -> None:
    if checkpoint and public_key is not None and not checkpoint_valid(public_key, checkpoint):
        raise _Broken(f"the signature of the checkpoint at sequence {checkpoint.get('sequence')} is not valid")


def check_head(manifest: Mapping[str, Any], checkpoint: Mapping[str, Any] | None) -> None:
    """A signed checkpoint beyond the chain head at export time means the log lost its tail."""
    head = manifest.get("chain_head") or {}
    if checkpoint and isinstance(head.get("sequence"), int) and checkpoint["sequence"] > head["sequence"]:
        raise _Broken(
            f"the log's head at export time ({head['sequence']}) is behind a signed checkpoint "
            f"({checkpoint['sequence']}): its tail was truncated",
            head["sequence"] + 1,
        )


def verify_export(
    csv_path: Path,
    manifest: Mapping[str, Any],
    public_key: Ed25519PublicKey | None = None,
    checkpoint: Mapping[str, Any] | None = None,
) -> ExportVerdict:
    """Verify the export at ``csv_path`` against ``manifest`` (the rules in the module docstring).

    ``checkpoint``: the ``data`` of an ``audit.checkpoint`` the auditor kept, checked like the
    manifest's own (signature, head hash if in the file, not beyond the head)."""
    rows = 0
    try:
        if manifest.get("format") != FORMAT:
            raise _Broken(f"the manifest's format is {manifest.get('format')!r}, not {FORMAT!r}")
        _check_signatures(manifest, public_key)
        _check_checkpoint(checkpoint, public_key)
        with csv_path.open("rb", buffering=0) as raw:
            hashing = _HashingReader(raw)  # type: ignore[arg-type]
            text = io.TextIOWrapper(io.BufferedReader(hashing, 1 << 20), encoding="utf-8", newline="")
            points = [p for p in (manifest.get("checkpoint"), checkpoint) if p]
            heads = {p["sequence"]: p["head_hash"] for p in points}
            rows, _ = _check_rows(_rows(csv.reader(text)), manifest, heads)
            text.read()  # anything after the last row still counts in the file's hash
        if hashing.digest.hexdigest() != manifest.get("csv_sha256"):
            raise _Broken("the file's SHA-256 differs from the manifest's (a cell outside the hashes changed?)")
        for point in points:
            check_head(manifest, point)
    except _Broken as broken:
        return ExportVerdict(False, rows, broken.reason, broken.sequence, public_key is not None)
    except (UnicodeDecodeError, csv.Error) as err:
        return ExportVerdict(False, rows, f"the file is not a well-formed UTF-8 CSV: {err}")
    return ExportVerdict(True, rows, signature_checked=public_key is not None)


def load_json(path: Path) -> dict[str, Any]:
    """A manifest or checkpoint file; ``ValueError`` unless it is a JSON object."""
    value = json.loads(path.read_bytes())
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return value
