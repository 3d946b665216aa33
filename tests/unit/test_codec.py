"""The strict JSON decoder and the dead-letter envelope."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from events.chain import loads_strict
from events.deadletter import MAX_ORIGINAL_BYTES, Origin, dead_letter, decode_json
from schemas.validation import Problem


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
