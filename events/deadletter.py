"""Dead-letter records: why a record was refused, its original bytes, and where it came from.

A refused record is never lost: ``skillmind.dead-letter.v1`` keeps it whole so it can
be fixed and resubmitted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.chain import loads_fast
from schemas.types import format_utc
from schemas.validation import Problem, proven_safe


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int


# A dead letter must itself fit in a Kafka record (1 MiB by default) once base64 has grown it
# by a third; a larger original is cut, and the dead letter says so and how large it was.
MAX_ORIGINAL_BYTES = 512 * 1024


def dead_letter(
    original: bytes | None,
    problems: tuple[Problem, ...],
    origin: Origin,
    now: datetime,
    tenant: str | None = None,
) -> bytes:
    """The dead-letter record (JSON bytes): reason, problems, source position, tenant, time and
    the original bytes in base64 (cut to ``MAX_ORIGINAL_BYTES``; ``original_size`` is the whole)."""
    original = original or b""
    body: dict[str, Any] = {
        "reason": "; ".join(str(p) for p in problems),
        "problems": [{"field": p.field, "rule": p.rule, "message": p.message} for p in problems],
        "source": {"topic": origin.topic, "partition": origin.partition, "offset": origin.offset},
        "tenantid": tenant,
        "rejectedat": format_utc(now),
        "original_base64": base64.b64encode(original[:MAX_ORIGINAL_BYTES]).decode("ascii"),
        "original_size": len(original),
        "original_truncated": len(original) > MAX_ORIGINAL_BYTES,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_json(value: bytes | None) -> tuple[object, Problem | None]:
    """Parse a record's bytes; a problem instead of an exception when they are not JSON."""
    parsed, problem, _ = decode_json_proven(value)
    return parsed, problem


def decode_json_proven(value: bytes | None) -> tuple[object, Problem | None, bool]:
    """:func:`decode_json`, and whether the bytes prove the value holds nothing the safety
    scan of ``schemas.validation`` refuses (``proven_safe``; False when unsure)."""
    if value is None:
        return None, Problem("$", "empty", "the record has no value"), False
    try:
        parsed, by_orjson = loads_fast(value)
    except (ValueError, RecursionError) as err:
        return None, Problem("$", "json_invalid", f"not valid UTF-8 JSON: {err}"), False
    # orjson reads only bytes without 16 digits in a row: proven_safe need not look again.
    return parsed, None, by_orjson and proven_safe(value, digits_checked=True)
