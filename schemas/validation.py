"""Validate one incoming record against the envelope and its type's schema.

The HTTP ingest and the sequencer call the same function, so a record is judged
the same way whichever door it came through. Every problem names the field and
the rule it broke.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.envelope import LOG_ATTRIBUTES, Envelope, LogRecord
from schemas.registry import MODELS, event_types, upcast
from schemas.types import FORBIDDEN_CONTROLS, MAX_SAFE_INTEGER, EventData

MAX_DEPTH = 16  # nesting of objects and arrays in one record; ours need 3
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CONTROLS}\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    field: str  # dotted path, e.g. "data.learner_id"; "$" for the record as a whole
    rule: str  # machine-readable, e.g. "missing", "string_type", "unknown_type"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class Valid:
    envelope: Envelope
    data: EventData

    @property
    def record(self) -> dict[str, Any]:
        """The normalised JSON form that enters the log (defaults filled, times in Z form)."""
        # The serializers themselves: model_dump's wrapper costs a third as much again.
        out: dict[str, Any] = type(self.envelope).__pydantic_serializer__.to_python(
            self.envelope, mode="json", exclude_none=True
        )
        out["data"] = type(self.data).__pydantic_serializer__.to_python(self.data, mode="json")
        return out


@dataclass(frozen=True)
class Invalid:
    problems: tuple[Problem, ...]

    @property
    def reason(self) -> str:
        return "; ".join(str(p) for p in self.problems)


def _problems(err: ValidationError, prefix: str = "") -> list[Problem]:
    found = []
    for item in err.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        found.append(Problem(f"{prefix}{path}" or "$", item["type"], item["msg"]))
    return found


def _all_safe(value: object, depth: int = 0) -> bool:
    """True exactly when :func:`_unsafe` finds nothing: its fast path, building no paths
    and no generators (every record the sequencer and the projections read passes through
    here). Containers of exact JSON types — what a JSON parser returns — are checked with
    one regex search over all their strings; anything else takes :func:`_all_safe_each`."""
    if type(value) is str:
        return _FORBIDDEN.search(value) is None
    texts: list[str] = []
    items: Iterable[object]
    if type(value) is dict:
        try:
            texts = ["".join(value)]  # every key at once; TypeError when one is not a string
        except TypeError:
            return _all_safe_each(value, depth)
        items = value.values()
    elif type(value) is list:
        items = value
    else:
        return _all_safe_each(value, depth)
    if depth >= MAX_DEPTH:
        return False
    for item in items:
        if type(item) is str:
            texts.append(item)
        elif type(item) is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif item is not None and type(item) is not bool and not _all_safe(item, depth + 1):
            return False
    return _FORBIDDEN.search("".join(texts)) is None


def _all_safe_each(value: object, depth: int = 0) -> bool:
    """:func:`_all_safe` one value at a time, for any Python value (subclasses, odd keys)."""
    if isinstance(value, str):
        return _FORBIDDEN.search(value) is None
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if not (_all_safe_each(key, depth + 1) and _all_safe_each(item, depth + 1)):
                return False
    elif isinstance(value, list):
        for item in value:
            if not _all_safe_each(item, depth + 1):
                return False
    return True


_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)


def proven_safe(text: bytes, *, digits_checked: bool = False) -> bool:
    """True only if the JSON value orjson read from ``text`` passes the safety scan (the
    same verdict as :func:`_all_safe`, read off the bytes, for the log's own records).

    Without a backslash, no string (key or value) holds an escape, so none holds a control
    character (JSON wants them escaped) or a lone surrogate (UTF-8 cannot carry one);
    with at most ``MAX_DEPTH`` brackets, nothing nests too deep; without 16 digits in a row,
    every integer is below 10^15; and orjson reads no infinite number. False means "scan
    it". The agreement is a property test (``tests/unit/test_codec.py``).
    ``digits_checked``: the caller knows ``text`` has no 16 digits in a row.
    """
    return (
        b"\\" not in text
        and text.count(b"{") + text.count(b"[") <= MAX_DEPTH
        and (digits_checked or b"0000000000000000" not in text.translate(_DIGITS_TO_ZERO))
    )


def _unsafe(value: object, path: str, depth: int = 0) -> Iterator[Problem]:
    """Values no store downstream can hold, wherever they sit in the record.

    The per-field types say the same for the fields they know; this scan makes the rule
    hold for every key and value, whatever a future schema forgets. Sources: PostgreSQL
    text (no U+0000), UTF-8 (no lone surrogates), RFC 8785 / I-JSON (integers within
    ±(2^53 − 1), finite numbers).
    """
    if isinstance(value, str):
        found = _FORBIDDEN.search(value)
        if found:
            char = f"U+{ord(found.group()):04X}"
            rule = "lone_surrogate" if "\ud800" <= found.group() <= "\udfff" else "control_character"
            yield Problem(path or "$", rule, f"must not contain {char} (at index {found.start()})")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            yield Problem(path or "$", "integer_range", "must be within ±(2^53 − 1) (RFC 8785, I-JSON)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield Problem(path or "$", "number_finite", "must be a finite number")
    elif depth >= MAX_DEPTH:
        yield Problem(path or "$", "too_deep", f"nests more than {MAX_DEPTH} levels")
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield from _unsafe(key, child, depth + 1)
            yield from _unsafe(item, child, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unsafe(item, f"{path}.{index}" if path else str(index), depth + 1)


def validate_event(raw: object, models: Mapping[tuple[str, int], type[EventData]] = MODELS) -> Valid | Invalid:
    """Judge one decoded JSON value as an incoming CloudEvent.

    Returns :class:`Valid` or :class:`Invalid` with at most 20 problems, each naming the
    field (dotted path) and the rule; never raises on any JSON value.
    """
    if not isinstance(raw, dict):
        return Invalid((Problem("$", "object_type", "an event must be a JSON object"),))
    problems = []
    if not raw.keys().isdisjoint(LOG_ATTRIBUTES):
        problems = [
            Problem(attr, "log_only", "is assigned by the log and must not be sent")
            for attr in LOG_ATTRIBUTES
            if attr in raw
        ]
    if not _all_safe(raw):
        problems += _unsafe(raw, "")
    if problems:
        return Invalid(tuple(problems[:20]))
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as err:
        return Invalid(tuple(_problems(err)))
    model = models.get((envelope.type, envelope.schemaversion))
    if model is None:
        known = ", ".join(event_types(models))
        return Invalid(
            (
                Problem(
                    "type",
                    "unknown_type",
                    f"no schema for {envelope.type!r} version {envelope.schemaversion}; known types: {known}",
                ),
            )
        )
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as err:
        return Invalid(tuple(_problems(err, prefix="data.")))
    admission = data.admission_problems()
    if admission:
        return Invalid(tuple(Problem(f, rule, message) for f, rule, message in admission))
    return Valid(envelope, data)


def validate_log_record(
    raw: object, models: Mapping[tuple[str, int], type[EventData]] = MODELS, *, known_safe: bool = False
) -> Valid | Invalid:
    """Judge a record read from the log, as every consumer of the log does before using it.

    The record must be a :class:`LogRecord` (the envelope plus the log's attributes), hold
    only values a store can keep, and its ``data`` — upcast to the type's latest version
    (``schemas.registry.upcast``) — must validate. ``Valid.data`` is the upcast data.
    Never raises on any JSON value. ``known_safe``: the record's bytes already proved what
    the safety scan checks (:func:`proven_safe`), so the scan is skipped — same verdict.
    """
    if not isinstance(raw, dict):
        return Invalid((Problem("$", "object_type", "a log record must be a JSON object"),))
    if not known_safe and not _all_safe(raw):
        return Invalid(tuple(list(_unsafe(raw, ""))[:20]))
    try:
        envelope = LogRecord.model_validate(raw)
    except ValidationError as err:
        return Invalid(tuple(_problems(err)))
    try:
        version, data = upcast(envelope.type, envelope.schemaversion, envelope.data, models=models)
    except (KeyError, LookupError) as err:
        unknown = f"cannot read {envelope.type!r} v{envelope.schemaversion}: {err}"
        return Invalid((Problem("type", "unknown_type", unknown),))
    try:
        return Valid(envelope, models[(envelope.type, version)].model_validate(data))
    except ValidationError as err:
        return Invalid(tuple(_problems(err, prefix="data.")))


def scrub(text: str, limit: int = 500) -> str:
    """``text`` safe to store and print: forbidden characters become U+FFFD, cut to ``limit``."""
    return _FORBIDDEN.sub("\ufffd", text)[:limit]
