"""Signed chain heads checked while the log is verified (``skillmind audit verify``).

Two sources of signed heads: the ``audit.checkpoint`` records in the log (each must carry
a valid signature and name the hash the chain really has at its sequence), and
checkpoints an auditor kept outside the log (each sequence must still be in the log with
that hash: a truncated tail or a rewritten, re-chained suffix fails here even though every
link verifies). Memory is bounded: the last ``window`` hashes per tenant are kept to look
up in-log checkpoints (the scheduler checkpoints a head it just read, a few records back).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events.auditsign import checkpoint_valid
from events.chain import ChainBreak

CHECKPOINT = "audit.checkpoint"


@dataclass
class CheckpointChecker:
    """Feed every verified record in log order, then :meth:`finish` with each tenant's head."""

    public_key: Ed25519PublicKey | None = None
    kept: Iterable[Mapping[str, Any]] = ()
    window: int = 10_000
    checked: int = 0
    _expected: dict[tuple[str, int], str] = field(default_factory=dict)
    _recent: dict[str, OrderedDict[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._expected = {(c["tenant_id"], c["sequence"]): c["head_hash"] for c in self.kept}

    def feed(self, record: Mapping[str, Any]) -> ChainBreak | None:
        """Check one record whose chain link already verified; the first problem, or None."""
        tenant, sequence, hash_ = record["tenantid"], record["sequence"], record["hash"]
        kept = self._expected.pop((tenant, sequence), None)
        if kept is not None and kept != hash_:
            return ChainBreak(tenant, sequence, "hash differs from a signed checkpoint you kept")
        self.checked += kept is not None
        recent = self._recent.setdefault(tenant, OrderedDict())
        recent[sequence] = hash_
        if len(recent) > self.window:
            recent.popitem(last=False)
        return self._in_log(record) if record.get("type") == CHECKPOINT else None

    def _in_log(self, record: Mapping[str, Any]) -> ChainBreak | None:
        tenant, data = record["tenantid"], record.get("data")
        if not isinstance(data, dict) or not {"sequence", "head_hash", "tenant_id", "signature"} <= data.keys():
            return ChainBreak(tenant, record["sequence"], "the checkpoint lacks its sequence, hash or signature")
        if self.public_key is not None and not checkpoint_valid(self.public_key, data):
            return ChainBreak(tenant, record["sequence"], "the checkpoint's signature is not valid")
        known = self._recent[tenant].get(data["sequence"])
        if known is not None and known != data.get("head_hash"):
            return ChainBreak(tenant, record["sequence"], f"the checkpoint names another hash for {data['sequence']}")
        self.checked += known is not None
        return None

    def finish(self, heads: Mapping[str, tuple[int, str]]) -> ChainBreak | None:
        """A kept checkpoint never reached: the log lost its tail (or that tenant)."""
        for (tenant, sequence), _ in sorted(self._expected.items()):
            head = heads.get(tenant, (0, ""))[0]
            return ChainBreak(
                tenant, head + 1, f"the log ends at {head}, before the signed checkpoint at {sequence}: truncated"
            )
        return None
