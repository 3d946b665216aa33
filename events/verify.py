"""``skillmind audit verify``: re-read the log and check every tenant's sequence and chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from events.chain import ChainBreak, ChainVerifier
from events.checkpoints import CheckpointChecker
from events.reader import read_to_end
from skillmind.settings import KafkaSettings


@dataclass(frozen=True)
class VerifyResult:
    verified: int
    tenants: int
    broken: ChainBreak | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        if self.broken is None:
            return f"verified {self.verified} records of {self.tenants} tenant(s): every chain is intact" + (
                f"; {self.checkpoints} signed checkpoint(s) match" if self.checkpoints else ""
            )
        b = self.broken
        where = f" (topic {self.topic}, partition {self.partition}, offset {self.offset})" if self.topic else ""
        return (
            f"chain broken for tenant {b.tenant} at sequence {b.sequence}: {b.reason}{where}; "
            f"{self.verified} records verified before it"
        )


def verify_log(
    kafka: KafkaSettings,
    topic: str,
    *,
    tenant: str | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoints: CheckpointChecker | None = None,
) -> VerifyResult:
    """Verify the whole topic (or one tenant's records); stop at the first break.

    ``checkpoints``: also check signed chain heads, in the log and kept by the auditor."""
    verifier = ChainVerifier()
    checker = checkpoints or CheckpointChecker()
    for msg in read_to_end(kafka, topic):
        try:
            record = json.loads(msg.value() or b"")
        except (TypeError, ValueError):
            record = {"tenantid": (msg.key() or b"?").decode(errors="replace")}
        if not isinstance(record, dict):
            record = {"tenantid": "?"}
        if tenant is not None and record.get("tenantid") != tenant:
            continue
        broken = verifier.feed(record) or checker.feed(record)
        if progress:
            progress(1)
        if broken:
            return VerifyResult(
                verifier.verified, len(verifier.heads), broken, msg.topic(), msg.partition(), msg.offset()
            )
    broken = checker.finish(verifier.heads)
    return VerifyResult(verifier.verified, len(verifier.heads), broken, checkpoints=checker.checked)
