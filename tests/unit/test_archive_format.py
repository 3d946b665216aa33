"""The archive's row format gives back exactly the message Kafka held (issue 12), and the
archive verifier accepts receipted stubs, refuses unreceipted ones and gaps."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from events.archive_format import UNSEQUENCED, object_key, parquet_bytes, placement, read_rows, stub_of, to_row
from events.archive_verify import verify_rows
from events.chain import GENESIS_HASH, jcs, record_hash
from jobs.archive_replay import message_of
from projections.runner import LogMessage

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def _chained(tenant: str, n: int, start: str = GENESIS_HASH) -> list[dict[str, Any]]:
    records, prev = [], start
    for seq in range(1, n + 1):
        record = {
            "specversion": "1.0",
            "id": f"e{seq}",
            "source": "/t",
            "type": "learner.signed_in",
            "time": "2026-11-01T08:00:00Z",
            "tenantid": tenant,
            "schemaversion": 1,
            "actor": "u",
            "data": {"learner_id": "l1"},
            "sequence": seq,
            "appendedat": "2026-11-01T08:00:01.500000Z",
            "prevhash": prev,
        }
        record["hash"] = prev = record_hash(record)
        records.append(record)
    return records


@given(
    data=json_values,
    when=times,
    extra=st.dictionaries(st.sampled_from(["x_ext", "subject", "dataschema"]), json_values, max_size=2),
    sequence=st.one_of(st.integers(1, 2**40), st.none(), st.text(max_size=3)),
)
@settings(max_examples=150, deadline=None)
def test_a_row_gives_back_the_message_kafka_held(data: Any, when: datetime, extra: dict, sequence: Any) -> None:
    record = {"id": "e1", "type": "t.x", "tenantid": "acme", "time": when.isoformat(), "data": data, **extra}
    if sequence is not None:
        record["sequence"] = sequence
    raw = json.dumps(record).encode()
    kafka = LogMessage.parse(3, 17, raw)
    rows = read_rows(parquet_bytes([to_row(kafka.record, raw, 3, 17)]))
    assert message_of(rows[0]) == kafka


def test_garbage_bytes_are_kept_as_they_are() -> None:
    for raw in (b"\xff\xfe", b"[1, 2]", b'{"a": NaN}', b""):
        kafka = LogMessage.parse(0, 5, raw)
        row = read_rows(parquet_bytes([to_row(kafka.record, raw, 0, 5)]))[0]
        assert row["raw"] == raw and message_of(row) == kafka
        assert placement(kafka.record).tenant == UNSEQUENCED


def test_a_log_record_is_typed_not_raw() -> None:
    record = _chained("acme", 1)[0]
    row = to_row(record, jcs(record), 0, 0)
    assert row["raw"] is None and row["time"] == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert placement(record).day == date(2026, 11, 1)
    assert (
        object_key("acme", date(2026, 11, 1), 1, 20)
        == "tenant=acme/date=2026-11-01/seq-000000000001-000000000020.parquet"
    )


def _rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [to_row(r, jcs(r), 0, n) for n, r in enumerate(records)]


def test_the_verifier_accepts_receipted_stubs_and_refuses_the_rest() -> None:
    rows = _rows(_chained("acme", 6))
    assert verify_rows(rows).ok
    stubbed = [stub_of(r) if 2 <= r["sequence"] <= 4 else r for r in rows]
    assert not verify_rows(stubbed).ok  # no receipt
    verdict = verify_rows(stubbed, lambda tenant, seq: tenant == "acme" and 2 <= seq <= 4)
    assert verdict.ok and verdict.stubs == 3 and verdict.verified == 3
    gap = [r for r in stubbed if r["sequence"] != 3]
    assert not verify_rows(gap, lambda tenant, seq: True).ok  # a gap no receipt covers
    tampered = [dict(r, data='{"learner_id":"l2"}') if r["sequence"] == 5 else r for r in stubbed]
    assert not verify_rows(tampered, lambda tenant, seq: 2 <= seq <= 4).ok
