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
_JS_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when stdlib JSON output equals JCS: no floats, JS-safe ints, ASCII keys, no lone surrogates."""
    if isinstance(value, str):
        return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_JS_SAFE_INT <= value <= _JS_SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON. Our records take a fast stdlib path that a property test
    proves byte-identical to the reference implementation; anything else (floats, say)
    goes through the reference."""
    if _plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return rfc8785.dumps(value)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def loads_strict(value: bytes) -> Any:
    """RFC 8259 JSON from UTF-8 bytes: no NaN/Infinity literals, no BOM guessing.

    Raises ``ValueError`` (``UnicodeDecodeError`` and ``json.JSONDecodeError`` are kinds of
    it) and ``RecursionError`` for absurdly deep nesting.
    """
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
