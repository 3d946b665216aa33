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

from schemas.types import format_utc
from schemas.validation import Problem


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int


def dead_letter(
    original: bytes | None,
    problems: tuple[Problem, ...],
    origin: Origin,
    now: datetime,
    tenant: str | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "reason": "; ".join(str(p) for p in problems),
        "problems": [{"field": p.field, "rule": p.rule, "message": p.message} for p in problems],
        "source": {"topic": origin.topic, "partition": origin.partition, "offset": origin.offset},
        "tenantid": tenant,
        "rejectedat": format_utc(now),
        "original_base64": base64.b64encode(original or b"").decode("ascii"),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_json(value: bytes | None) -> tuple[object, Problem | None]:
    """Parse a record's bytes; a problem instead of an exception when they are not JSON."""
    if value is None:
        return None, Problem("$", "empty", "the record has no value")
    try:
        # Decode as UTF-8 ourselves: json.loads(bytes) would guess UTF-16/32 from a BOM.
        return json.loads(value.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, Problem("$", "json_invalid", f"not valid UTF-8 JSON: {err}")
