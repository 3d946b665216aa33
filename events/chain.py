"""The per-tenant hash chain: canonical bytes, record hashes, and their verification.

``hash = SHA-256(prevhash ‖ JCS(record without "hash"))`` where ``prevhash`` is the
64 lowercase hex characters of the previous record's hash (64 zeros before the
first record of a tenant) and JCS is RFC 8785 canonical JSON. Anyone can recompute
it with a JCS library and SHA-256; nothing here is specific to our code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of the record without its own ``hash``."""
    return rfc8785.dumps({k: v for k, v in record.items() if k != "hash"})


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
