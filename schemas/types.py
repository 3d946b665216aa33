"""Field types and the base class shared by every event schema."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

Kind = Literal["learner", "mutation", "system"]

Role = Literal[
    "platform_admin",
    "company_admin",
    "program_owner",
    "manager",
    "mentor",
    "learner",
    "auditor",
    "ingest",
]
ROLES: tuple[str, ...] = get_args(Role)
# The identity provider issues platform_admin; no tenant's directory holds it, so no event
# grants it (the API refuses such a grant, and the fold sets aside one written around the API).
NOT_IN_DIRECTORY = "platform_admin"

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"

# Characters no text field may hold: the C0 controls except TAB, LF and CR. PostgreSQL
# refuses U+0000 in text columns, and the other controls break CSV cells and terminals.
# Lone surrogates are refused too (by pydantic, and by ``schemas.safety``): UTF-8 cannot
# encode them. One class, used by the JSON Schema patterns and by the generic scan.
FORBIDDEN_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f"
TEXT_PATTERN = f"^[^{FORBIDDEN_CONTROLS}]*$"

# The largest integer RFC 8785 (JCS) and I-JSON (RFC 7493) represent exactly: 2^53 − 1.
MAX_SAFE_INTEGER = 2**53 - 1
# Integers that land in an ``integer`` read-model column stay within PostgreSQL's int4.
MAX_INT4 = 2**31 - 1

Id = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=ID_PATTERN,
        description="An opaque identifier: a letter or digit, then letters, digits and . _ : @ -",
    ),
]


def text(max_length: int, *, min_length: int = 1, description: str | None = None) -> Any:
    """A text field: ``min_length``..``max_length`` characters, none of them a forbidden control."""
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length, pattern=TEXT_PATTERN, description=description)
    ]


Name = text(200, description="A display name: 1 to 200 characters, no control characters but TAB, LF, CR.")
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        # Published in v1; \s already keeps TAB/LF/CR out, and the generic scan of
        # ``schemas.validation`` refuses the other controls in every field, this one included.
        pattern=r"^[^@\s]+@[^@\s]+$",
        # U+0085 is whitespace to the validator's regex engine (Unicode \s) but not to ECMA-262's.
        json_schema_extra={"not": {"pattern": f"[{FORBIDDEN_CONTROLS}\\u0085]"}},
        description="An e-mail address (RFC 5321 length limit: 254); no spaces or control characters.",
    ),
]


def _whole_number(value: object) -> object:
    # JSON Schema counts 3.0 as an integer, so we do; "3" and true are not numbers at all.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
"""An integer as JSON Schema means it: 3 or 3.0, never "3" or true."""


def bounded_int(ge: int, le: int) -> Any:
    """``Int`` within [ge, le]; usable inside ``| None`` (the bounds stay in the JSON Schema)."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_whole_number)]


# RFC 3339 section 5.6 date-time, in UTC: full date, "T", full time with seconds, an
# optional fraction (at most 9 digits; kept to the microsecond), then "Z" or "+00:00".
_RFC3339_UTC = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")
_RFC3339_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_utc(value: object) -> datetime:
    """The one parser of times in the contract: a strict RFC 3339 date-time in UTC.

    Refused: numbers and numeric strings (epoch seconds), a missing seconds field,
    any separator but ``T``, offsets without a colon (``+0000``), offsets other than
    UTC and impossible dates. Python callers may pass an aware UTC ``datetime``."""
    if isinstance(value, datetime):
        return _utc(value)
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2026-11-27T08:30:00Z")
    match = _RFC3339_UTC.fullmatch(value)
    if match is None:
        raise ValueError("must be an RFC 3339 date-time in UTC, e.g. 2026-11-27T08:30:00Z")
    if match[8] not in ("Z", "+00:00"):
        raise ValueError("must be in UTC (end in Z or +00:00)")
    if len(value) in (20, 27) and match[8] == "Z":  # the log's normal form: read by the C parser
        try:  # the same value for every string the pattern admits (tests/unit/test_time_contract.py)
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # an impossible date or time: refused below, with the contract's message
    fraction = (match[7] or "0")[:6].ljust(6, "0")
    year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
    try:
        return datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=UTC)
    except ValueError as err:  # 2026-02-30, 25:00:00, a leap second
        raise ValueError(f"is not a real date and time: {err}") from err


def parse_day(value: object) -> date:
    """A strict RFC 3339 full-date (``YYYY-MM-DD``); Python callers may pass a ``date``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_DATE.fullmatch(value):
        raise ValueError("must be an RFC 3339 date string, e.g. 2026-11-27")
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise ValueError(f"is not a real date: {err}") from err


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
        raise ValueError("must be in UTC (end in Z or +00:00)")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """The one textual form of a time in the log: RFC 3339 in UTC with a trailing Z."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


UtcTime = Annotated[
    datetime,
    BeforeValidator(parse_utc),  # already a UTC datetime when pydantic sees it: nothing lax left
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    Field(description="RFC 3339 date-time in UTC"),
]

Day = Annotated[date, BeforeValidator(parse_day)]
"""A calendar day as an RFC 3339 full-date; never a number or a date-time."""


class EventData(BaseModel):
    """Base of every event's ``data``: closed (unknown fields are errors) and immutable.

    ``TYPE`` and ``VERSION`` name the schema; ``KIND`` says whether the event is a
    learner's activity, a mutation someone made, or a system tick.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    KIND: ClassVar[Kind]

    def admission_problems(self) -> list[tuple[str, str, str]]:
        """Rules a *new* record must meet beyond its schema: ``(field, rule, message)`` each.

        Checked when a record enters the log (HTTP and inbox alike, in
        ``schemas.validation.validate_event``), never on the read path: a record the log
        admitted before a rule existed stays readable, and replays stay equal to live folds.
        The JSON Schema cannot say these, so each type's docstring does.
        """
        return []
