"""The fold of an erasure is what a replay without the key gives: same rows, no plaintext."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from events.sequencing import Append, SequencerState
from projections import tables as t
from projections.fold import fold_in_memory
from projections.personal import ERASED_NAME, never_unseal
from schemas import sealing
from schemas.examples import cloud_event
from schemas.validation import Valid, validate_event

names = st.text(st.characters(min_codepoint=65, max_codepoint=0x2FF), min_size=3, max_size=40).map("Zq·".__add__)
locals_ = st.text("abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=30).map("zq.".__add__)
AT = "2026-11-27T10:00:00Z"


def _sequenced(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    batch = SequencerState(timedelta(days=3650)).batch(datetime(2026, 11, 28, tzinfo=UTC))
    out = []
    for event in events:
        valid = validate_event(event)
        assert isinstance(valid, Valid), valid
        decision = batch.decide(valid)
        assert isinstance(decision, Append)
        out.append(decision.record)
    return out


def _log(key: bytes, name: str, email: str) -> list[dict[str, Any]]:
    personal = sealing.seal(
        key, "0123456789abcdef", {"display_name": name, "email": email}, sealing.aad("acme", "u1", "user.registered")
    )
    legacy = {"user_id": "u2", "display_name": name + " II", "email": "2" + email, "roles": ["learner"]}
    events = [
        cloud_event("tenant.created", {"tenant_id": "acme", "name": "Acme"}, tenant="acme", time=AT),
        {
            **cloud_event(
                "user.registered", {"user_id": "u1", "roles": ["learner"], "personal": personal}, tenant="acme", time=AT
            ),
            "schemaversion": 2,
        },
        cloud_event("user.registered", legacy, tenant="acme", time=AT),
        cloud_event("learner.signed_in", {"learner_id": "u1"}, tenant="acme", time=AT),
        cloud_event("subject.erased", {"subject_id": "u1"}, tenant="acme", time=AT),
        cloud_event("subject.erased", {"subject_id": "u2", "unsealed_sequences": [3]}, tenant="acme", time=AT),
    ]
    return _sequenced(events)


@settings(max_examples=50, deadline=None)
@given(names, locals_)
def test_live_with_the_key_and_replay_without_it_give_the_same_rows(name: str, local: str) -> None:
    key, email = sealing.new_data_key(), f"{local}@erase.example"
    records = _log(key, name, email)

    def with_key(tenant: str, subject: str, envelope: Mapping[str, Any], event_type: str) -> dict[str, Any]:
        return sealing.open_sealed(key, envelope, sealing.aad(tenant, subject, event_type))

    live = fold_in_memory(records, unseal=with_key)
    before = fold_in_memory(records[:4], unseal=with_key)
    assert before.select(t.USERS, user_id="u1")[0]["display_name"] == name  # readable until erased
    replay = fold_in_memory(records, unseal=never_unseal)
    assert live.rows == replay.rows
    users = {r["user_id"]: r for r in live.select(t.USERS)}
    assert (
        users["u1"]
        == users["u2"] | {"user_id": "u1"}
        == {
            "tenant_id": "acme",
            "user_id": "u1",
            "display_name": ERASED_NAME,
            "email": None,
        }
    )
    assert [r["sequence"] for r in live.select(t.ERASED_RECORDS)] == [3]
    assert live.select(t.SIGNIN_DAYS, learner_id="u1")  # aggregates stay
    assert name not in repr(live.rows) and email not in repr(live.rows)
