"""``skillmind audit verify --archive``: every tenant's chain, checked over the archive.

A full record is checked like in the log (``events.chain.ChainVerifier``: next sequence,
``prevhash`` = the previous record's ``hash``, ``hash`` recomputed). A **stub** — a
record whose content a retention purge removed — cannot be re-hashed; it is accepted
when a purge receipt (``retention.purged``) covers its tenant and sequence and its links
still check (next sequence, ``prevhash`` = the previous hash); its ``hash`` is then the
link the next record must name. A stub no receipt covers is a break, and so is a gap.
Pure: the caller reads the rows (``jobs.archive_replay``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from events.archive_format import UNSEQUENCED, to_record
from events.chain import GENESIS_HASH, ChainBreak, ChainVerifier, loads_strict

# Does a purge receipt cover (tenant, sequence)?
Covered = Callable[[str, int], bool]


def nothing_covered(tenant: str, sequence: int) -> bool:
    return False


@dataclass
class ArchiveVerifier:
    """Feed each tenant's rows in sequence order; the first break is returned."""

    covered: Covered = nothing_covered
    chain: ChainVerifier = field(default_factory=ChainVerifier)
    stubs: int = 0

    def feed(self, row: Mapping[str, Any]) -> ChainBreak | None:
        if row["stub"]:
            return self._stub(row)
        record = to_record(row)
        if record is None:
            record = _parsed(row["raw"])
        return self.chain.feed(record)

    def _stub(self, row: Mapping[str, Any]) -> ChainBreak | None:
        tenant, sequence = row["tenantid"], row["sequence"]
        expected_seq, expected_prev = self.chain.heads.get(tenant, (0, GENESIS_HASH))
        if sequence != expected_seq + 1:
            return ChainBreak(tenant, sequence, f"stub at sequence {sequence} where {expected_seq + 1} was expected")
        if row["prevhash"] != expected_prev:
            return ChainBreak(tenant, sequence, "stub's prevhash does not match the previous record's hash")
        if not self.covered(tenant, sequence):
            return ChainBreak(tenant, sequence, "stub not covered by any retention.purged receipt")
        self.chain.heads[tenant] = (sequence, row["hash"])
        self.stubs += 1
        return None


def _parsed(raw: bytes | None) -> dict[str, Any]:
    try:
        value = loads_strict(raw or b"")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def chain_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows that belong to a tenant's chain, in (tenant, sequence, offset) order."""
    positioned = [r for r in rows if r["tenantid"] is not None and r["sequence"] is not None]
    positioned = [r for r in positioned if r["tenantid"] != UNSEQUENCED]
    return sorted(positioned, key=lambda r: (r["tenantid"], r["sequence"], r["log_partition"], r["log_offset"]))


@dataclass(frozen=True)
class ArchiveVerdict:
    verified: int
    stubs: int
    tenants: int
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        if self.broken is None:
            return (
                f"verified {self.verified} records and {self.stubs} purged stubs of {self.tenants} tenant(s) "
                "in the archive: every chain is intact"
            )
        b = self.broken
        return f"archive chain broken for tenant {b.tenant} at sequence {b.sequence}: {b.reason}"


def verify_rows(rows: Iterable[Mapping[str, Any]], covered: Covered = nothing_covered) -> ArchiveVerdict:
    """Verify every tenant's chain over archive rows (any order); stop at the first break."""
    verifier = ArchiveVerifier(covered)
    for row in chain_rows(rows):
        broken = verifier.feed(row)
        if broken:
            return ArchiveVerdict(verifier.chain.verified, verifier.stubs, len(verifier.chain.heads), broken)
    return ArchiveVerdict(verifier.chain.verified, verifier.stubs, len(verifier.chain.heads))
