from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from events.chain import ChainVerifier, jcs
from events.sequencing import Append, Checkpoint, Duplicate, Reject, SequencerState
from schemas.examples import cloud_event
from schemas.validation import Valid, validate_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def valid(event: dict) -> Valid:
    result = validate_event(event)
    assert isinstance(result, Valid), result
    return result


def created(tenant: str, event_id: str | None = None) -> Valid:
    return valid(cloud_event("tenant.created", {"tenant_id": tenant, "name": tenant}, tenant=tenant, event_id=event_id))


def signin(tenant: str, event_id: str) -> Valid:
    return valid(cloud_event("learner.signed_in", {"learner_id": "l"}, tenant=tenant, event_id=event_id))


def test_events_of_an_unknown_tenant_are_rejected() -> None:
    batch = SequencerState(timedelta(days=7)).batch(T0)
    decision = batch.decide(signin("ghost", "e1"))
    assert isinstance(decision, Reject)
    assert decision.problems[0].rule == "unknown_tenant"


def test_a_tenant_is_created_once_and_only_for_itself() -> None:
    batch = SequencerState(timedelta(days=7)).batch(T0)
    assert isinstance(batch.decide(created("acme")), Append)
    again = batch.decide(created("acme"))
    assert isinstance(again, Reject) and again.problems[0].rule == "tenant_exists"
    mismatch = valid(cloud_event("tenant.created", {"tenant_id": "other", "name": "x"}, tenant="evil"))
    decision = batch.decide(mismatch)
    assert isinstance(decision, Reject) and decision.problems[0].field == "data.tenant_id"


def test_duplicate_ids_are_dropped_within_and_across_batches() -> None:
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0)
    batch.decide(created("acme"))
    assert isinstance(batch.decide(signin("acme", "e1")), Append)
    assert isinstance(batch.decide(signin("acme", "e1")), Duplicate)
    batch.commit()
    assert isinstance(state.batch(T0).decide(signin("acme", "e1")), Duplicate)
    # Ids are per tenant: another tenant may reuse one.
    other = state.batch(T0)
    other.decide(created("beta"))
    assert isinstance(other.decide(signin("beta", "e1")), Append)


def test_an_uncommitted_batch_changes_nothing() -> None:
    state = SequencerState(timedelta(days=7))
    first = state.batch(T0)
    first.decide(created("acme"))
    first.commit()
    aborted = state.batch(T0)
    aborted.decide(signin("acme", "e1"))
    # not committed: the transaction was aborted
    retry = state.batch(T0)
    decision = retry.decide(signin("acme", "e1"))
    assert isinstance(decision, Append)
    assert decision.record["sequence"] == 2


def test_ids_are_forgotten_after_the_window() -> None:
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0)
    batch.decide(created("acme"))
    batch.decide(signin("acme", "e1"))
    batch.commit()
    later = T0 + timedelta(days=8)
    state.evict(later)
    assert isinstance(state.batch(later).decide(signin("acme", "e1")), Append)


def test_append_time_never_goes_backwards() -> None:
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0)
    batch.decide(created("acme"))
    batch.commit()
    earlier = state.batch(T0 - timedelta(hours=1)).decide(signin("acme", "e1"))
    assert isinstance(earlier, Append)
    assert earlier.record["appendedat"] == "2026-11-01T00:00:00Z"


def test_recovered_state_continues_the_chain() -> None:
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0)
    records = [
        d.record for d in (batch.decide(created("acme")), batch.decide(signin("acme", "e1"))) if isinstance(d, Append)
    ]
    batch.commit()
    recovered = SequencerState(timedelta(days=7))
    for record in records:
        assert recovered.load(jcs(record))
    assert recovered.heads == state.heads
    assert isinstance(recovered.batch(T0).decide(signin("acme", "e1")), Duplicate)


def test_recovery_ignores_what_is_not_the_next_link_of_the_chain() -> None:
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0)
    first, second = (batch.decide(created("acme")), batch.decide(signin("acme", "e1")))
    assert isinstance(first, Append) and isinstance(second, Append)
    forged_ahead = {**second.record, "id": "x", "sequence": 99}
    forged_link = {**second.record, "id": "y", "sequence": 3, "prevhash": "f" * 64}
    recovered = SequencerState(timedelta(days=7))
    garbage = [b"\x00\xff", b"[]", b"{}", b'{"tenantid": 1}', b"NaN", b"", None, jcs({**first.record, "sequence": "1"})]
    assert [recovered.load(v) for v in garbage] == [False] * len(garbage)
    assert recovered.load(jcs(first.record))
    assert not recovered.load(jcs(forged_ahead))
    assert recovered.load(jcs(second.record))
    assert not recovered.load(jcs(forged_link))
    assert recovered.heads["acme"].sequence == 2
    assert recovered.heads["acme"].hash == second.record["hash"]


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 15)), max_size=80), st.integers(1, 10))
def test_any_stream_yields_gap_free_verifiable_chains(stream: list[tuple[str, int]], per_batch: int) -> None:
    state = SequencerState(timedelta(days=7))
    log: list[dict] = []
    appended_ids: dict[str, set[str]] = {}
    events = [created(t) for t in "abc"] + [signin(t, f"e{n}") for t, n in stream]
    for start in range(0, len(events), per_batch):
        batch = state.batch(T0)
        for event in events[start : start + per_batch]:
            decision = batch.decide(event)
            if isinstance(decision, Append):
                log.append(decision.record)
                ids = appended_ids.setdefault(decision.record["tenantid"], set())
                assert decision.record["id"] not in ids
                ids.add(decision.record["id"])
        batch.commit()
    verifier = ChainVerifier()
    assert all(verifier.feed(r) is None for r in log)
    for tenant, ids in appended_ids.items():
        assert ids == {f"e{n}" for t, n in stream if t == tenant} | {
            next(r["id"] for r in log if r["tenantid"] == tenant and r["sequence"] == 1)
        }


def _log(tenants: int, events: int) -> list[bytes]:
    """Encoded log records of ``tenants`` tenants, appended by the sequencer's rules, an hour apart."""
    state, values = SequencerState(timedelta(days=7)), []
    for n in range(tenants + events):
        batch = state.batch(T0 + timedelta(hours=n))
        event = created(f"t{n}") if n < tenants else signin(f"t{n % tenants}", f"e{n}")
        decision = batch.decide(event)
        batch.commit()
        assert isinstance(decision, Append)
        values.append(jcs(decision.record))
    return values


@settings(max_examples=30, deadline=None)
@given(split=st.integers(min_value=0, max_value=40), tenants=st.integers(min_value=1, max_value=4))
def test_a_checkpoint_then_the_rest_of_the_log_is_the_state_of_a_full_read(split: int, tenants: int) -> None:
    """Recovery from a checkpoint at any offset, then the records after it, equals reading it all."""
    values = _log(tenants, 40)
    full = SequencerState(timedelta(days=7))
    for value in values:
        full.load(value)
    prefix = SequencerState(timedelta(days=7))
    for value in values[:split]:
        prefix.load(value)
    checkpoint = Checkpoint(split, dict(prefix.heads), {t: dict(ids) for t, ids in prefix.recent_ids.items()})
    restored = SequencerState.restore(timedelta(days=7), checkpoint)
    assert all(restored.load(value) for value in values[split:])
    assert not restored.load(values[-1]), "a record it already holds is not adopted twice"
    now = T0 + timedelta(hours=len(values))
    full.evict(now)
    restored.evict(now)
    assert (restored.heads, restored.recent_ids) == (full.heads, full.recent_ids)


def _two_records(state: SequencerState) -> None:
    batch = state.batch(T0)
    batch.decide(created("acme", "c1"))
    batch.decide(signin("acme", "e1"))
    batch.commit()


def test_unsaved_changes_are_kept_until_a_checkpoint_takes_them() -> None:
    state = SequencerState(timedelta(days=7), tracking=True)
    _two_records(state)
    unsaved = state.take_unsaved()
    assert unsaved.tenants == {"acme"} and [i for _, i, _ in unsaved.ids] == ["c1", "e1"]
    assert not state.take_unsaved().ids
    state.keep_unsaved(unsaved)  # saving failed: the next checkpoint takes them again
    assert state.take_unsaved().ids == unsaved.ids
    state.unsaved.everything = True  # e.g. after a recovery that read records
    whole = state.take_unsaved()
    assert whole.tenants == {"acme"} and [i for _, i, _ in whole.ids] == ["c1", "e1"]


def test_nothing_is_tracked_without_a_checkpoint_store() -> None:
    state = SequencerState(timedelta(days=7))
    _two_records(state)
    assert not state.unsaved.ids and not state.unsaved.tenants


def test_unsaved_ids_stay_bounded_while_the_store_is_away() -> None:
    from events.sequencing import UNSAVED_IDS_LIMIT, Unsaved

    state = SequencerState(timedelta(days=7), tracking=True)
    state.keep_unsaved(Unsaved(ids=[("acme", f"e{n}", T0) for n in range(UNSAVED_IDS_LIMIT + 1)]))
    assert state.unsaved.everything and not state.unsaved.ids
