"""The strict JSON decoder, its fast reader of log records, and the dead-letter envelope."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.chain import loads_fast, loads_strict
from events.deadletter import MAX_ORIGINAL_BYTES, Origin, dead_letter, decode_json, decode_json_proven
from schemas.validation import Problem, _all_safe, proven_safe


@pytest.mark.parametrize("text", [b"NaN", b'{"a": Infinity}', b"[-Infinity]", b"\xff", b"\xef\xbb\xbf{}", b"{"])
def test_what_is_not_rfc_8259_json_is_a_problem_not_an_exception(text: bytes) -> None:
    value, problem = decode_json(text)
    assert value is None and problem is not None and problem.rule == "json_invalid"
    with pytest.raises(ValueError):
        loads_strict(text)


def test_a_dead_letter_fits_a_kafka_record_whatever_the_original() -> None:
    original = b"x" * (3 * MAX_ORIGINAL_BYTES)
    body = json.loads(
        dead_letter(original, (Problem("$", "r", "m"),), Origin("t", 0, 1), datetime(2026, 1, 1, tzinfo=UTC))
    )
    assert body["original_truncated"] is True and body["original_size"] == len(original)
    assert base64.b64decode(body["original_base64"]) == original[:MAX_ORIGINAL_BYTES]


# -- the fast reader of log records (events.chain.loads_fast) and the proof read off the bytes --

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(-(2**53) - 2, 2**53 + 2)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=30,
)


@st.composite
def _json_bytes(draw: st.DrawFn) -> bytes:
    """JSON texts of any value (lone surrogates escaped or raw), then perhaps damaged."""
    text = json.dumps(
        draw(_values), ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([None, (",", ":")]))
    )
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data)))
        insert = draw(
            st.sampled_from(
                [b"\\", b"1e999", b"\\u0000", b"\xef\xbb\xbf", b"\x01", b"[", b"{", b"9" * 20, b"NaN", b'"']
            )
            | st.binary(max_size=3)
        )
        data = data[:at] + insert + data[at + draw(st.integers(0, 2)) :]
    return data


def _strict(data: bytes) -> tuple[str, object]:
    try:
        return "value", loads_strict(data)
    except (ValueError, RecursionError) as err:
        return "error", f"{type(err).__name__}: {err}"


@settings(max_examples=1500)
@given(_json_bytes())
def test_the_fast_reader_reads_what_the_strict_reader_reads(data: bytes) -> None:
    """Same value (same types, key order, signs: compared by repr) or the same error."""
    try:
        value, by_orjson = loads_fast(data)
        fast: tuple[str, object] = ("value", value)
    except (ValueError, RecursionError) as err:
        fast, by_orjson = ("error", f"{type(err).__name__}: {err}"), False
    strict = _strict(data)
    assert repr(fast) == repr(strict)
    if by_orjson and proven_safe(data):
        assert _all_safe(value), data


@settings(max_examples=600)
@given(_values)
def test_bytes_proven_safe_hold_only_safe_values(value: object) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        parsed, by_orjson = loads_fast(data)
    except ValueError:
        return
    if by_orjson and proven_safe(data):
        assert _all_safe(parsed)


@pytest.mark.parametrize(
    "text",
    [
        b'{"n": 9007199254740992}',  # 2^53: past the safe range
        b'{"n": 18446744073709551616}',  # past 64 bits: orjson would give a float
        b'{"s": "a\\u0000b"}',
        b'{"s": "\\ud800"}',
        b'{"f": 1e999}',
        b"[" * 17 + b"1" + b"]" * 17,
    ],
)
def test_what_the_scan_refuses_is_never_proven_safe(text: bytes) -> None:
    value, problem, known_safe = decode_json_proven(text)
    assert not known_safe
    if problem is None:
        assert not _all_safe(value)


def test_a_log_record_is_read_fast_and_proven_safe() -> None:
    text = b'{"data":{"learner_id":"l-1","phase":2},"id":"e-1","sequence":12,"tenantid":"acme","type":"x.y"}'
    value, problem, known_safe = decode_json_proven(text)
    assert problem is None and known_safe and value == json.loads(text)
