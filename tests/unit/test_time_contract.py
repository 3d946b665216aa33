"""Times in the contract: one strict RFC 3339 parser, and one rule bounding ``time`` by the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.examples import EXAMPLE_DATA, cloud_event
from schemas.timebounds import time_problem
from schemas.types import _RFC3339_UTC, format_utc, parse_utc
from schemas.validation import Invalid, Valid, validate_event

REFUSED_TIMES = [
    "1710113400",  # epoch seconds as a string
    1710113400,  # epoch seconds as a number
    "2024-03-10T23:30Z",  # no seconds
    "2024-03-10_23:30:00Z",  # "_" as separator
    "2024-03-10 23:30:00Z",  # a space is not RFC 3339's "T"
    "2024-03-10T23:30:00+0000",  # offset without a colon
    "2024-03-10T23:30:00",  # no offset
    "2024-03-10T23:30:00+01:00",  # not UTC
    "2024-03-10T23:30:00-00:00",  # "unknown local offset"
    "2024-02-30T10:00:00Z",  # no such day
    "2024-03-10T24:00:00Z",
    "2024-03-10T10:00:00.1234567890Z",  # ten fraction digits
    "2024-W10-7T10:00:00Z",  # ISO 8601 week date
    "+2024-03-10T10:00:00Z",
    "",
    None,
    True,
]


@pytest.mark.parametrize("value", REFUSED_TIMES)
def test_lax_times_are_refused_naming_the_field(value: object) -> None:
    event = cloud_event("learner.signed_in", EXAMPLE_DATA["learner.signed_in"], tenant="acme", time="x")
    judged = validate_event({**event, "time": value})
    assert isinstance(judged, Invalid)
    assert [p.field for p in judged.problems] == ["time"]


@pytest.mark.parametrize("field", ["starts_at"])
def test_data_times_use_the_same_parser(field: str) -> None:
    data = {**EXAMPLE_DATA["session.scheduled"], field: "2026-11-20T09:00Z"}
    judged = validate_event(cloud_event("session.scheduled", data, tenant="acme", time="2026-11-20T09:00:00Z"))
    assert isinstance(judged, Invalid) and judged.problems[0].field == f"data.{field}"


@pytest.mark.parametrize("day", [20261127, "2026-11-27T00:00:00Z", "20261127", "2026-13-01"])
def test_days_are_rfc3339_full_dates_only(day: object) -> None:
    event = cloud_event("engagement.recompute_requested", {"day": day}, tenant="acme", time="2026-11-28T00:00:00Z")
    judged = validate_event(event)
    assert isinstance(judged, Invalid) and judged.problems[0].field == "data.day"


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("2024-03-10T23:30:00Z", "2024-03-10T23:30:00Z"),
        ("2024-03-10T23:30:00+00:00", "2024-03-10T23:30:00Z"),
        ("2024-03-10T23:30:00.5Z", "2024-03-10T23:30:00.500000Z"),
        ("2024-03-10T23:30:00.123456789Z", "2024-03-10T23:30:00.123456Z"),
    ],
)
def test_rfc3339_utc_times_are_accepted_and_normalised(text: str, normalised: str) -> None:
    judged = validate_event(cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme", time=text))
    assert isinstance(judged, Valid) and judged.record["time"] == normalised


@given(st.datetimes(min_value=datetime(1, 1, 1), timezones=st.just(UTC)))
def test_format_then_parse_round_trips(value: datetime) -> None:
    assert parse_utc(format_utc(value)) == value


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BOUNDS = {"max_future": timedelta(minutes=5), "horizon": timedelta(days=366)}


@pytest.mark.parametrize(
    ("offset", "rule"),
    [
        (timedelta(minutes=5), None),
        (timedelta(minutes=5, microseconds=1), "time_in_future"),
        (-timedelta(days=366), None),
        (-timedelta(days=366, microseconds=1), "time_too_old"),
        (-timedelta(days=365 * 2025), "time_too_old"),  # year 0001
    ],
)
def test_time_is_bounded_by_the_clock(offset: timedelta, rule: str | None) -> None:
    problem = time_problem(NOW + offset, NOW, **BOUNDS)
    assert (problem.rule if problem else None) == rule
    assert problem is None or problem.field == "time"


def test_year_9999_is_in_the_future() -> None:
    problem = time_problem(parse_utc("9999-12-31T23:59:59Z"), NOW, **BOUNDS)
    assert problem is not None and problem.rule == "time_in_future"


def _parse_utc_by_fields(value: str) -> datetime:
    """parse_utc without its fast path: the pattern's fields, one by one (the reference)."""
    match = _RFC3339_UTC.fullmatch(value)
    assert match is not None and match[8] in ("Z", "+00:00")
    fraction = (match[7] or "0")[:6].ljust(6, "0")
    fields = (int(match[i]) for i in range(1, 7))
    try:
        return datetime(*fields, int(fraction), tzinfo=UTC)
    except ValueError as err:
        raise ValueError(f"is not a real date and time: {err}") from err


_two = st.integers(0, 99).map(lambda n: f"{n:02d}")


@settings(max_examples=500)
@given(
    st.integers(0, 9999).map(lambda n: f"{n:04d}"),
    _two,
    _two,
    _two,
    _two,
    _two,
    st.sampled_from(["", ".000000", ".123456", ".999999", ".5", ".123456789"]),
    st.sampled_from(["Z", "+00:00"]),
)
def test_the_fast_reading_of_normal_times_gives_what_the_fields_give(
    year: str, month: str, day: str, hour: str, minute: str, second: str, fraction: str, zone: str
) -> None:
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}{zone}"
    try:
        expected: object = _parse_utc_by_fields(text)
    except ValueError as err:
        expected = str(err)
    try:
        got: object = parse_utc(text)
    except ValueError as err:
        got = str(err)
    assert got == expected and repr(got) == repr(expected)
