"""The per-tenant hash chain: canonical bytes, record hashes, and their verification.

``hash = SHA-256(prevhash ‖ JCS(record without "hash"))`` where ``prevhash`` is the
64 lowercase hex characters of the previous record's hash (64 zeros before the
first record of a tenant) and JCS is RFC 8785 canonical JSON. Anyone can recompute
it with a JCS library and SHA-256; nothing here is specific to our code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import rfc8785

GENESIS_HASH = "0" * 64

_SCALARS = frozenset((str, int, bool, type(None)))
# orjson: keys sorted, integers beyond ±(2**53 − 1) and lone surrogates refused (then the
# reference decides), and anything that is not exactly a JSON type handed back to us (refused).
_ORJSON_JCS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _plain(value: Any) -> bool:
    """True when orjson's output (sorted keys) is JCS: only dicts with ASCII string keys (code
    point order is UTF-16 order there), lists, strings, integers, booleans and null — no floats,
    whose JCS form is ECMAScript's. Integer range and lone surrogates are orjson's to refuse."""
    kind = type(value)
    if kind is dict:
        try:
            if not "".join(value).isascii():
                return False
        except TypeError:  # a key that is not a string
            return False
        values = value.values()
    elif kind is list:
        values = value
    else:
        return kind in _SCALARS
    if _SCALARS.issuperset(map(type, values)):  # the usual leaf object, checked in C
        return True
    return all(_plain(item) for item in values if type(item) not in _SCALARS)


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON. Our records take a fast orjson path that a property test
    proves byte-identical to the reference implementation; anything else (floats, say)
    goes through the reference, which also raises for what JCS cannot encode."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=_ORJSON_JCS)
        except orjson.JSONEncodeError:  # out-of-range integer, lone surrogate: the reference says why
            pass
    return rfc8785.dumps(value)


def jcs_pair(whole: dict[str, Any], part: dict[str, Any]) -> tuple[bytes, bytes]:
    """:func:`jcs` of ``whole`` and of ``part``, some of whole's items: one check serves both."""
    if _plain(whole):
        try:
            return orjson.dumps(whole, option=_ORJSON_JCS), orjson.dumps(part, option=_ORJSON_JCS)
        except orjson.JSONEncodeError:
            pass
    return jcs(whole), jcs(part)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


# Where orjson's reading could differ from the standard library's, the standard library reads:
# integer literals of 19+ digits (orjson turns those beyond 64 bits into floats) and nesting
# deep enough to meet either parser's recursion limit (orjson's is 1024, the standard
# library's what is left of Python's 1000 frames).
# One pass of bytes.translate marks digits "0" and openings "[" (a regex scan costs 3× as much).
_MARKS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x5B if b in (0x5B, 0x7B) else 0x20 for b in range(256))
_LONG_DIGITS = b"0" * 19
_SHALLOW = 512  # fewer openings than this cannot nest this deep
NOT_READ: Any = object()  # read_fast could not read it as the standard library would


def _depth_below(value: Any, limit: int) -> bool:
    """True when ``value`` nests fewer than ``limit`` arrays and objects deep."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            item
            for node in level
            if type(node) is dict or type(node) is list
            for item in (node.values() if type(node) is dict else node)
        ]
        if not level:
            return True
    return False


def read_fast(value: bytes) -> Any:
    """``value`` read by orjson when orjson reads it exactly as the standard library does
    (a property test holds them equal), else :data:`NOT_READ` (the standard library must: it
    reads, or says what is wrong)."""
    marks = value.translate(_MARKS)
    if _LONG_DIGITS in marks:
        return NOT_READ
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return NOT_READ
    if marks.count(b"[") >= _SHALLOW and not _depth_below(parsed, _SHALLOW):
        return NOT_READ
    return parsed


def loads_strict(value: bytes) -> Any:
    """RFC 8259 JSON from UTF-8 bytes: no NaN/Infinity literals, no BOM guessing.

    Raises ``ValueError`` (``UnicodeDecodeError`` and ``json.JSONDecodeError`` are kinds of
    it) and ``RecursionError`` for absurdly deep nesting. Read by orjson where it reads
    exactly as the standard library does (:func:`read_fast`), else by the standard library.
    """
    parsed = read_fast(value)
    if parsed is not NOT_READ:
        return parsed
    # Decode as UTF-8 ourselves: json.loads(bytes) would guess UTF-16/32 from a BOM.
    return json.loads(value.decode("utf-8"), parse_constant=_no_constants)


_BOM = b"\xef\xbb\xbf"
# Every digit to "0" (other bytes unchanged): 16 digits in a row become 16 zeros, found by a
# substring search (several times faster than a regex on records full of hex hashes).
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_SIXTEEN_ZEROS = b"0" * 16


def long_digit_run(value: bytes) -> bool:
    """Whether ``value`` holds 16 ASCII digits in a row (an integer may be 10^15 or more)."""
    return _SIXTEEN_ZEROS in value.translate(_DIGITS_TO_ZERO)


def loads_fast(value: bytes) -> tuple[Any, bool]:
    """What :func:`loads_strict` returns (or raises) for ``value``, read by orjson (4× faster)
    where it is known to give the same value, and whether orjson read it.

    orjson is used only on bytes without a BOM and without 16 digits in a row (so every integer
    fits 64 bits, where orjson and ``json`` agree); it refuses everything ``loads_strict``
    refuses (invalid UTF-8, lone surrogates, NaN and Infinity) and, unlike ``json``, numbers
    that overflow to infinity: on any refusal ``loads_strict`` decides, so errors and their
    messages are its own. ``tests/unit/test_codec.py`` proves the agreement by property.
    """
    if not value.startswith(_BOM) and not long_digit_run(value):
        try:
            return orjson.loads(value), True
        except orjson.JSONDecodeError:
            pass
    return loads_strict(value), False


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of the record without its own ``hash``."""
    return jcs({k: v for k, v in record.items() if k != "hash"})


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(record["prevhash"].encode("ascii") + canonical_bytes(record)).hexdigest()


def seal(record: dict[str, Any]) -> bytes:
    """Set the record's ``hash`` (:func:`record_hash`) and return the record's JCS bytes,
    hash included: what the log holds. One check of the record serves both encodings
    (a hash is plain ASCII and keeps a plain record plain)."""
    body = {k: v for k, v in record.items() if k != "hash"} if "hash" in record else record
    if _plain(body):
        try:
            canonical = orjson.dumps(body, option=_ORJSON_JCS)
        except orjson.JSONEncodeError:
            pass
        else:
            record["hash"] = hashlib.sha256(record["prevhash"].encode("ascii") + canonical).hexdigest()
            return orjson.dumps(record, option=_ORJSON_JCS)
    record["hash"] = record_hash(record)
    return jcs(record)


@dataclass(frozen=True)
class ChainBreak:
    tenant: str
    sequence: int | None
    reason: str


@dataclass
class ChainVerifier:
    """Feed a tenant's records in log order; the first break is reported and kept."""

    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    verified: int = 0

    def feed(self, record: Mapping[str, Any]) -> ChainBreak | None:
        tenant = str(record.get("tenantid"))
        sequence = record.get("sequence")
        expected_seq, expected_prev = self.heads.get(tenant, (0, GENESIS_HASH))
        expected_seq += 1
        if sequence != expected_seq:
            return ChainBreak(
                tenant,
                sequence if isinstance(sequence, int) else None,
                f"sequence {sequence} where {expected_seq} was expected",
            )
        if record.get("prevhash") != expected_prev:
            return ChainBreak(tenant, sequence, "prevhash does not match the previous record's hash")
        try:
            actual = record_hash(record)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            return ChainBreak(tenant, sequence, f"record cannot be hashed: {err}")
        if record.get("hash") != actual:
            return ChainBreak(tenant, sequence, "hash does not match the record's content")
        self.heads[tenant] = (sequence, actual)
        self.verified += 1
        return None
