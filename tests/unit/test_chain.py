from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from events.chain import GENESIS_HASH, ChainVerifier, canonical_bytes, jcs, loads_strict, record_hash, seal
from events.sequencing import Append, SequencerState
from schemas.examples import cloud_event
from schemas.validation import Valid, validate_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_tree = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=5),
    max_leaves=25,
)


@settings(max_examples=1000)
@given(json_tree)
def test_fast_canonical_json_equals_the_rfc8785_reference(value: Any) -> None:
    try:
        reference = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, OverflowError):
        # Outside JCS's domain (e.g. ints beyond 2**53, lone surrogates): refused here too.
        with pytest.raises(ValueError):
            jcs(value)
        return
    assert jcs(value) == reference


@pytest.mark.parametrize(
    "value",
    [2**53 - 1, -(2**53 - 1), '\x00\x1f\x7f\u2028"\\ é😀', {"é": 1, "e": 2}, {"\ue000": 1, "😀": 2}, (1, 2), [1.0]],
)
def test_edges_of_the_fast_path_equal_the_reference(value: Any) -> None:
    assert jcs(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), "\ud800", {"k": ["\udfff"]}, {1: "a"}])
def test_what_jcs_cannot_encode_is_refused_on_the_fast_path_too(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        rfc8785.dumps(value)
    with pytest.raises(ValueError):
        jcs(value)


def _stdlib(value: bytes) -> Any:
    return json.loads(value.decode("utf-8"), parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def _agree(value: bytes) -> None:
    """``loads_strict`` reads ``value`` exactly as the standard library does, or both refuse it."""
    try:
        expected = _stdlib(value)
    except (ValueError, RecursionError):
        with pytest.raises((ValueError, RecursionError)):
            loads_strict(value)
        return
    # repr tells 1 from 1.0, 0.0 from -0.0 and shows the order of keys
    assert repr(loads_strict(value)) == repr(expected)


wide_leaf = json_leaf | st.integers() | st.floats(allow_nan=False) | st.text(alphabet=st.characters(codec=None))
wide_tree = st.recursive(
    wide_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=5),
    max_leaves=25,
)


@settings(max_examples=1000)
@given(wide_tree, st.booleans())
def test_fast_parsing_equals_the_standard_library(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    try:
        _agree(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate written raw: not UTF-8, nothing to read
        _agree(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=1000)
@given(st.binary(max_size=64) | st.from_regex(rb"\A[\[\]{}\"\\:,0-9eE.+\- a-z]{0,40}\Z"))
def test_fast_parsing_refuses_what_the_standard_library_refuses(value: bytes) -> None:
    _agree(value)


@pytest.mark.parametrize(
    "value",
    [
        b"123456789012345678901234567890",
        b"-9223372036854775809",
        b"18446744073709551616",
        b"1e400",
        b"-1e400",
        b"1e-400",
        b'"\\ud800"',
        b'"\\udc00\\ud800"',
        b"\xef\xbb\xbf{}",
        b"NaN",
        b"[Infinity]",
        b'{"a":1,"a":2}',
        b"-0",
        b"-0.0",
        b"\xed\xa0\x80",
        b"[" * 600 + b"]" * 600,
        b"[" + b",".join([b'{"a":[1]}'] * 600) + b"]",
        b"[" * 511 + b"]" * 511,
        b"[" * 5000 + b"]" * 5000,
        b"1" * 5000,
    ],
)
def test_parsing_edges_equal_the_standard_library(value: bytes) -> None:
    _agree(value)


def _chain(tenant: str, count: int) -> list[dict[str, Any]]:
    state = SequencerState(timedelta(days=7))
    batch = state.batch(T0)
    events = [cloud_event("tenant.created", {"tenant_id": tenant, "name": "T"}, tenant=tenant)]
    events += [cloud_event("learner.signed_in", {"learner_id": f"l{i}"}, tenant=tenant) for i in range(count - 1)]
    records = []
    for event in events:
        valid = validate_event(event)
        assert isinstance(valid, Valid)
        decision = batch.decide(valid)
        assert isinstance(decision, Append)
        records.append(decision.record)
    batch.commit()
    return records


def test_hash_is_sha256_of_prevhash_and_canonical_record() -> None:
    (first, second) = _chain("acme", 2)
    assert first["prevhash"] == GENESIS_HASH
    assert second["prevhash"] == first["hash"]
    body = {k: v for k, v in second.items() if k != "hash"}
    expected = hashlib.sha256(first["hash"].encode() + rfc8785.dumps(body)).hexdigest()
    assert second["hash"] == expected == record_hash(second)
    assert canonical_bytes(second) == rfc8785.dumps(body)


def test_verifier_accepts_interleaved_tenants() -> None:
    a, b = _chain("a", 5), _chain("b", 5)
    verifier = ChainVerifier()
    for record in [r for pair in zip(a, b, strict=True) for r in pair]:
        assert verifier.feed(record) is None
    assert verifier.verified == 10


@settings(max_examples=100)
@given(st.integers(2, 12), st.data())
def test_any_single_alteration_is_located(length: int, data: st.DataObject) -> None:
    records = _chain("acme", length)
    victim = data.draw(st.integers(0, length - 1))
    field = data.draw(st.sampled_from(["data", "time", "actor", "sequence", "prevhash", "id"]))
    altered = dict(records[victim])
    if field == "data":
        altered["data"] = (
            {**altered["data"], "learner_id": "mallory"} if victim else {**altered["data"], "name": "Mallory"}
        )
    elif field == "sequence":
        altered["sequence"] += 1
    elif field == "prevhash":
        altered["prevhash"] = "f" * 64
    else:
        altered[field] = "tampered"
    records[victim] = altered
    verifier = ChainVerifier()
    breaks = [b for b in (verifier.feed(r) for r in records) if b]
    assert breaks, "an alteration went unnoticed"
    assert breaks[0].tenant == "acme"
    assert breaks[0].sequence in (victim + 1, records[victim]["sequence"])


def test_gaps_and_reorders_are_breaks() -> None:
    records = _chain("acme", 4)
    verifier = ChainVerifier()
    assert verifier.feed(records[0]) is None
    broken = verifier.feed(records[2])
    assert broken is not None and "sequence 3 where 2 was expected" in broken.reason


@settings(max_examples=500)
@given(json_tree, st.sampled_from([GENESIS_HASH, "ab" * 32]))
def test_sealing_hashes_and_encodes_as_the_reference_does(data: Any, prevhash: str) -> None:
    record = {"id": "e1", "tenantid": "acme", "data": data, "sequence": 1, "prevhash": prevhash}
    try:
        body = rfc8785.dumps(record)
    except (rfc8785.CanonicalizationError, ValueError, OverflowError):
        with pytest.raises(ValueError):
            seal(dict(record))
        return
    sealed = dict(record)
    encoded = seal(sealed)
    assert sealed["hash"] == hashlib.sha256(prevhash.encode() + body).hexdigest() == record_hash(sealed)
    assert encoded == rfc8785.dumps(sealed)


@pytest.mark.parametrize("depth", [0, 1, 2, 5, 511, 512, 513])
def test_depth_is_measured_exactly(depth: int) -> None:
    from events.chain import _depth_below

    value: Any = 7
    for level in range(depth):  # each level also holds shallower siblings
        value = [value, 1, []] if level % 2 else {"k": value, "j": "x"}
    assert _depth_below(value, depth + 1) and not _depth_below(value, depth)


@settings(max_examples=500)
@given(json_tree)
def test_encoding_with_the_digest_equals_encoding_and_digest_apart(data: Any) -> None:
    from events.idempotency import content_digest, encoded_with_digest

    record = {"id": "e1", "tenantid": "acme", "actor": "u1", "data": data, "type": "x.y"}
    try:
        expected = (jcs(record), content_digest(record))
    except ValueError:
        with pytest.raises(ValueError):
            encoded_with_digest(record)
        return
    assert encoded_with_digest(record) == expected
