"""Signed chain heads: in-log audit.checkpoint records and checkpoints an auditor kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.auditsign import checkpoint_data, load_private_key
from events.chain import ChainVerifier
from events.checkpoints import CheckpointChecker
from events.sequencing import Append, SequencerState
from schemas.examples import cloud_event
from schemas.validation import Valid, validate_event
from skillmind.settings import DEFAULT_AUDIT_SIGNING_KEY
from tests.unit.auditlog import T0, events_for

KEY = load_private_key(DEFAULT_AUDIT_SIGNING_KEY)
OTHER = load_private_key("WmqXUeMz0KwUe1gBX8kv5sRf4GOnN3oUQVGmm4dk6Xc=")


def log_with_checkpoint(signer: Any = KEY, lie: bool = False) -> list[dict[str, Any]]:
    """20 records, a checkpoint of record 18 appended after record 20 (the head lagged), 5 more."""
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0 + timedelta(days=30))
    records: list[dict[str, Any]] = []

    def append(event: dict[str, Any]) -> None:
        valid = validate_event(event)
        assert isinstance(valid, Valid), valid
        decision = batch.decide(valid)
        assert isinstance(decision, Append)
        records.append(decision.record)

    events = events_for("acme", 25)
    for event in events[:20]:
        append(event)
    head_hash = "ab" * 32 if lie else records[17]["hash"]
    append(cloud_event("audit.checkpoint", checkpoint_data(signer, "acme", 18, head_hash), tenant="acme"))
    for event in events[20:]:
        append(event)
    return records


def run(records: list[dict[str, Any]], checker: CheckpointChecker) -> Any:
    verifier = ChainVerifier()
    for record in records:
        broken = verifier.feed(record) or checker.feed(record)
        if broken:
            return broken
    return checker.finish(verifier.heads)


def test_an_honest_log_and_a_kept_checkpoint_verify() -> None:
    records = log_with_checkpoint()
    kept = checkpoint_data(KEY, "acme", 24, records[23]["hash"])
    checker = CheckpointChecker(KEY.public_key(), [kept])
    assert run(records, checker) is None and checker.checked == 2


def test_a_forged_or_lying_checkpoint_in_the_log_is_named() -> None:
    forged = run(log_with_checkpoint(signer=OTHER), CheckpointChecker(KEY.public_key()))
    assert forged and forged.sequence == 21 and "signature" in forged.reason
    lying = run(log_with_checkpoint(lie=True), CheckpointChecker(KEY.public_key()))
    assert lying and lying.sequence == 21 and "another hash for 18" in lying.reason


def test_a_truncated_tail_or_rewritten_suffix_fails_against_a_kept_checkpoint() -> None:
    records = log_with_checkpoint()
    kept = checkpoint_data(KEY, "acme", 25, records[24]["hash"])
    truncated = run(records[:22], CheckpointChecker(KEY.public_key(), [kept]))
    assert truncated and truncated.sequence == 23 and "truncated" in truncated.reason
    rewritten = checkpoint_data(KEY, "acme", 23, "cd" * 32)  # the head an auditor saw before a rewrite
    broken = run(records, CheckpointChecker(KEY.public_key(), [rewritten]))
    assert broken and broken.sequence == 23 and "kept" in broken.reason
