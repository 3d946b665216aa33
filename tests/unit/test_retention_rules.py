"""Issue 12, retention: a property test over random policies, legal holds and histories —
no held record is ever purged, every unheld record older than its cutoff is, and the chain
verifies before and after (stubs under their receipt)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from events.archive_format import stub_of, to_row
from events.archive_verify import verify_rows
from events.chain import GENESIS_HASH, jcs, record_hash
from jobs.archive_audit import coverage
from jobs.retention_rules import KEPT_TYPES, Policy, cutoff_of, plan_purge, ranges, receipt_chunks
from schemas.examples import EXAMPLE_DATA

TODAY = date(2026, 11, 30)
TYPES = ["learner.signed_in", "submission.made", "user.registered", "learner.enrolled", "retention.policy_set"]


def _history(kinds: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Chained records of tenant acme: (type index, age in days, learner index)."""
    records, prev = [], GENESIS_HASH
    for seq, (kind, age, learner) in enumerate(kinds, start=1):
        event_type = TYPES[kind]
        data = dict(EXAMPLE_DATA[event_type])
        if "learner_id" in data:
            data["learner_id"] = f"l{learner}"
        when = datetime.combine(TODAY - timedelta(days=age), datetime.min.time(), tzinfo=UTC)
        record = {
            "specversion": "1.0",
            "id": f"e{seq}",
            "source": "/t",
            "type": event_type,
            "time": when.isoformat().replace("+00:00", "Z"),
            "tenantid": "acme",
            "schemaversion": 1,
            "actor": "u",
            "data": data,
            "sequence": seq,
            "appendedat": when.isoformat().replace("+00:00", "Z"),
            "prevhash": prev,
        }
        record["hash"] = prev = record_hash(record)
        records.append(record)
    return records


policies = st.builds(
    Policy,
    learner_events_days=st.integers(30, 400),
    mutations_days=st.integers(365, 900),
    exports_days=st.integers(1, 60),
    cadence=st.sampled_from(["daily", "weekly", "monthly"]),
    hour=st.integers(0, 23),
)
histories = st.lists(st.tuples(st.integers(0, len(TYPES) - 1), st.integers(0, 1000), st.integers(0, 4)), max_size=40)


@given(policy=policies, kinds=histories, held=st.sets(st.integers(0, 4)))
@settings(max_examples=200, deadline=None)
def test_purge_never_touches_held_and_takes_every_expired(policy: Policy, kinds: list, held: set[int]) -> None:
    records = _history(kinds)
    rows = [to_row(r, jcs(r), 0, n) for n, r in enumerate(records)]
    held_ids = {f"l{n}" for n in held}

    def is_held(record: dict[str, Any]) -> bool:
        return record["data"].get("learner_id") in held_ids

    cutoffs = policy.cutoffs(TODAY)
    plan = plan_purge(rows, cutoffs, is_held)
    purged = set(plan.sequences)
    for record in records:
        cutoff = cutoff_of(record["type"], cutoffs)
        expired = cutoff is not None and datetime.fromisoformat(record["time"]).date() < cutoff
        assert (record["sequence"] in purged) == (expired and not is_held(record))
        assert not (record["sequence"] in purged and record["type"] in KEPT_TYPES)

    assert verify_rows(rows).ok
    after = [stub_of(r) if r["sequence"] in purged else r for r in rows]
    runs = [run for chunk in receipt_chunks(ranges(plan.sequences)) for run in chunk]
    verdict = verify_rows(after, coverage({"acme": [(a, b) for a, b in runs]}))
    assert verdict.ok and verdict.stubs == len(purged)
    assert all(r["data"] is None for r in after if r["stub"])
    if purged:  # without the receipt, the stubs are refused
        assert not verify_rows(after).ok


def test_cadence() -> None:
    weekly = Policy(30, 365, 1, "weekly", 3)
    assert weekly.due(datetime(2026, 11, 30, 3, tzinfo=UTC))  # a Monday
    assert not weekly.due(datetime(2026, 11, 30, 4, tzinfo=UTC))
    assert not weekly.due(datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert Policy(30, 365, 1, "monthly", 3).due(datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert Policy(30, 365, 1, "daily", 0).due(datetime(2026, 12, 2, 0, tzinfo=UTC))
    assert Policy.of(None) == Policy(730, 2555, 30, "weekly", 3)


def test_ranges() -> None:
    assert ranges([7, 1, 2, 3, 9, 10]) == [[1, 3], [7, 7], [9, 10]]
    assert receipt_chunks([]) == [[]]
