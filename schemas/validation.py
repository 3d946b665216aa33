"""Validate one incoming record against the envelope and its type's schema.

The HTTP ingest and the sequencer call the same function, so a record is judged
the same way whichever door it came through. Every problem names the field and
the rule it broke.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.envelope import LOG_ATTRIBUTES, Envelope
from schemas.registry import MODELS, event_types
from schemas.types import EventData


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
        out = self.envelope.model_dump(mode="json", exclude_none=True)
        out["data"] = self.data.model_dump(mode="json")
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


def validate_event(raw: object, models: Mapping[tuple[str, int], type[EventData]] = MODELS) -> Valid | Invalid:
    """Judge one decoded JSON value as an incoming CloudEvent."""
    if not isinstance(raw, dict):
        return Invalid((Problem("$", "object_type", "an event must be a JSON object"),))
    problems = [
        Problem(attr, "log_only", "is assigned by the log and must not be sent")
        for attr in LOG_ATTRIBUTES
        if attr in raw
    ]
    if problems:
        return Invalid(tuple(problems))
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
    return Valid(envelope, data)
