"""How far from now an event's ``time`` may be: the one rule, with the clock passed in.

The parser (``schemas.types.UtcTime``) says whether a string is an RFC 3339 UTC time;
this says whether that time is plausible *now*. It is kept apart so validation stays a
pure function of the record, and every door (the HTTP ingest, the sequencer) calls this
one helper with its own clock and the configured bounds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.types import format_utc
from schemas.validation import Problem


def time_problem(
    value: datetime, now: datetime, *, max_future: timedelta, horizon: timedelta, field: str = "time"
) -> Problem | None:
    """Why ``value`` is out of bounds (after ``now + max_future`` or before ``now - horizon``), or None."""
    if value > now + max_future:
        latest = format_utc(now + max_future)
        return Problem(field, "time_in_future", f"{format_utc(value)} is in the future (latest accepted: {latest})")
    if value < now - horizon:
        earliest = format_utc(now - horizon)
        return Problem(field, "time_too_old", f"{format_utc(value)} is too far in the past (earliest: {earliest})")
    return None
